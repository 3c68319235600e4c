"""Scenes for the region-job tests (a helper, not a test): real and synthetic rasters cut into
several scenes, written to a test's temporary folder (never into the repository)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from osgeo import gdal

from tests.toy_model import geographic_scene, utm_sar

S1F = "sen1floods11_sample"


def cut(src: Path, folder: Path, prefix: str,
        windows: Sequence[tuple[int, int, int, int]]) -> list[str]:
    """Pieces of `src` (xoff, yoff, width, height) as separate GeoTIFF scenes."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, win in enumerate(windows):
        path = folder / f"{prefix}_{i}.tif"
        gdal.Translate(str(path), str(src), srcWin=list(win))
        out.append(str(path))
    return out


def real_scenes(shared: Path, folder: Path) -> dict[str, object]:
    """The Sen1Floods11 chip as 4 optical scenes (uneven quarters) and 2 SAR scenes."""
    s2 = shared / S1F / "Spain_7370579_S2Hand.tif"
    s1 = shared / S1F / "Spain_7370579_S1Hand.tif"
    optical = cut(s2, folder / "s2", "s2", [(0, 0, 300, 250), (300, 0, 212, 250),
                                            (0, 250, 300, 262), (300, 250, 212, 262)])
    sar = cut(s1, folder / "s1", "s1", [(0, 0, 512, 200), (0, 200, 512, 312)])
    return {"optical": optical, "sar": sar, "s2": str(s2), "s1": str(s1)}


def synthetic_scenes(folder: Path, width: int = 320, height: int = 240) -> dict[str, object]:
    """A SYNTHETIC geographic scene cut into 3 optical scenes, its SAR on a UTM grid of another
    resolution cut into 2 scenes (aligned per window by the single-scene code)."""
    folder.mkdir(parents=True, exist_ok=True)
    opt, sar = geographic_scene(folder, width=width, height=height)
    optical = cut(opt, folder / "opt", "opt", [(0, 0, 130, height), (130, 0, 110, height),
                                               (240, 0, width - 240, height)])
    utm = utm_sar(folder, opt)
    ds = gdal.Open(str(utm))
    w, h = ds.RasterXSize, ds.RasterYSize
    ds = None
    sar_parts = cut(utm, folder / "sar", "sar", [(0, 0, w, h // 2), (0, h // 2, w, h - h // 2)])
    return {"optical": optical, "sar": sar_parts, "whole_optical": str(opt),
            "whole_sar": str(sar), "utm_sar": str(utm)}


def mosaic(paths: Sequence[str], dest: Path) -> str:
    """A plain gdalbuildvrt mosaic, what a user would hand to upseg:segment (-addalpha when the
    scenes have no nodata value, so gaps between them are missing, not black)."""
    first = gdal.Open(paths[0])
    alpha = first.GetRasterBand(1).GetNoDataValue() is None
    vrt = gdal.BuildVRT(str(dest), list(paths), addAlpha=alpha)
    for b in range(1, first.RasterCount + 1):
        vrt.GetRasterBand(b).SetDescription(first.GetRasterBand(b).GetDescription())
    vrt = None
    return str(dest)


def read(path: str | Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


def seg(optical: str | Path, sar: str | Path, out: str | Path, *, model: str | Path | None = None,
        confidence: str | Path | None = None, tile: int | None = None,
        overlap: int | None = None) -> Any:
    """`pipeline.segment` on the CPU with a tile size and overlap: the single-scene reference."""
    from upseg_qgis.core.run.options import RuntimeOptions, TilingOptions
    from upseg_qgis.core.run.pipeline import segment

    return segment(str(optical), str(sar), str(out), model=str(model) if model else None,
                   confidence=str(confidence) if confidence else None,
                   tiling=TilingOptions(tile, overlap), runtime=RuntimeOptions(device="cpu"))


def region(optical: Sequence[str], sar: Sequence[str], out: str | Path, *,
           model: str | Path | None = None, confidence: str | Path | None = None,
           tile: int | None = None, overlap: int | None = None, threads: int | None = None,
           run: Any = None, progress: Any = None, inputs: Any = None,
           **options: Any) -> Any:
    """`segment_region` on the CPU; `inputs`: InputOptions; `options`: RegionOptions fields."""
    from upseg_qgis.core.region.options import RegionOptions
    from upseg_qgis.core.region.run import segment_region
    from upseg_qgis.core.run.options import RuntimeOptions, TilingOptions
    from upseg_qgis.core.run.reporting import Reporter

    return segment_region(optical, sar, str(out), model=str(model) if model else None,
                          confidence=str(confidence) if confidence else None,
                          inputs=inputs, tiling=TilingOptions(tile, overlap),
                          runtime=RuntimeOptions(device="cpu", threads=threads),
                          region=RegionOptions(**options), run=run,
                          report=Reporter(progress=progress))
