"""Small shared helpers: where the data lives, GDAL reads, sample conventions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from osgeo import gdal

from model_export.data.spec import IGNORE_INDEX

gdal.UseExceptions()

REPO_ROOT = Path(__file__).resolve().parents[2]
RASTER_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".img", ".vrt", ".jp2")


def default_data_root() -> Path:
    """``$UPSEG_DATA_ROOT`` or ``<repo>/../shared/data`` (the data is never copied in the repo)."""
    env = os.environ.get("UPSEG_DATA_ROOT")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data").resolve()


def resolve_root(root: str | os.PathLike[str] | None, subdir: str) -> Path:
    """A dataset root: explicit path, else ``default_data_root()/subdir``."""
    return Path(root) if root else default_data_root() / subdir


def read_raster(path: str | os.PathLike[str], window: tuple[int, int, int, int] | None = None,
                bands: list[int] | None = None) -> np.ndarray:
    """Read ``[C, H, W]`` from a raster; ``window=(xoff, yoff, xsize, ysize)`` reads only that part.

    Only the requested window is read from disk, so scenes of any size can be tiled.
    """
    ds = gdal.Open(str(path), gdal.GA_ReadOnly)
    try:
        return read_window(ds, window, bands)
    finally:
        ds = None  # noqa: F841 - closes the file


def read_window(ds: gdal.Dataset, window: tuple[int, int, int, int] | None = None,
                bands: list[int] | None = None) -> np.ndarray:
    xoff, yoff, xs, ys = window if window else (0, 0, ds.RasterXSize, ds.RasterYSize)
    band_list = bands or list(range(1, ds.RasterCount + 1))
    arr = ds.ReadAsArray(xoff, yoff, xs, ys, band_list=band_list)
    return arr[None] if arr.ndim == 2 else arr


def raster_size(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """(width, height, band count) without reading pixels."""
    ds = gdal.Open(str(path), gdal.GA_ReadOnly)
    return ds.RasterXSize, ds.RasterYSize, ds.RasterCount


def list_rasters(folder: Path) -> dict[str, Path]:
    """stem -> path for the raster files directly inside ``folder``."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES}


def find_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    """First existing ``root/name`` (case-insensitive) among ``names``."""
    if not root.is_dir():
        return None
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for name in names:
        if name.lower() in children:
            return children[name.lower()]
    return None


def make_sample(optical: np.ndarray, sar: np.ndarray, label: np.ndarray,
                **meta: Any) -> dict[str, Any]:
    """The sample convention of every reader: float32 tensors in native units, int64 label."""
    return {
        "optical": torch.from_numpy(np.ascontiguousarray(optical, dtype=np.float32)),
        "sar": torch.from_numpy(np.ascontiguousarray(sar, dtype=np.float32)),
        "label": torch.from_numpy(np.ascontiguousarray(label, dtype=np.int64)),
        **meta,
    }


def lut_map(values: np.ndarray, mapping: dict[int, int], ignore_index: int = IGNORE_INDEX,
            ) -> np.ndarray:
    """Map integer label codes through ``mapping``; codes not in it become ``ignore_index``."""
    values = np.asarray(values)
    out = np.full(values.shape, ignore_index, dtype=np.int64)
    for src, dst in mapping.items():
        out[values == src] = dst
    return out
