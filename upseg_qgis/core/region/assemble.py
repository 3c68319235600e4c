"""Finished tiles -> the final product: one Cloud-Optimised GeoTIFF, or a VRT over the tiles.

The classes get the model's colour table and category names inside the file and the same .qml
beside it as a single-scene output. Everything is written under temporary names and moved
into place together only when all of it is complete (`commit`, as a single-scene output), so
the final paths never hold a partial product.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from osgeo import gdal

from ..contract.metadata import ClassInfo
from ..raster import commit
from ..raster.block_assembler import CONFIDENCE_NODATA
from ..raster.gdal_errors import RasterError, gdal_call
from ..raster.grid import Grid
from ..raster.styling import category_names, colour_table, paletted_qml, qml_path

COG_OPTIONS = ["COMPRESS=DEFLATE", "BLOCKSIZE=256", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS"]
# Above this many output pixels a COG means rewriting hundreds of GB in one process: say so.
COG_ADVICE_PIXELS = 20_000_000_000


def tile_mosaic(tiles: Sequence[Path], grid: Grid, dest: Path, nodata: float) -> gdal.Dataset:
    """A VRT of the tiles on exactly `grid` (no resampling: tiles sit on its lattice)."""
    gt = grid.geotransform
    assert gt is not None
    opts = gdal.BuildVRTOptions(
        outputBounds=grid.bounds, xRes=gt[1], yRes=-gt[5], resolution="user",
        srcNodata=nodata, VRTNodata=nodata,
    )
    vrt = gdal_call("Assembling the tiles", gdal.BuildVRT, str(dest), [str(t) for t in tiles],
                    options=opts)
    if (vrt.RasterXSize, vrt.RasterYSize) != (grid.width, grid.height):
        raise RasterError(
            f"The tiles assemble to {vrt.RasterXSize}x{vrt.RasterYSize} px instead of "
            f"{grid.width}x{grid.height} (an internal error; please report it)."
        )
    return vrt


def style_classes(ds: gdal.Dataset, classes: Sequence[ClassInfo]) -> None:
    band = ds.GetRasterBand(1)
    ct = gdal.ColorTable()
    for value, rgba in colour_table(classes):
        ct.SetColorEntry(int(value), tuple(int(c) for c in rgba))
    band.SetRasterColorTable(ct)
    band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
    band.SetCategoryNames(category_names(classes))
    band.SetDescription("class")


def _aux(path: Path) -> Path:
    return Path(str(path) + ".aux.xml")


def assemble(
    grid: Grid, classes: Sequence[ClassInfo], nodata: int, tiles: Sequence[Path],
    output: Path, confidence_tiles: Sequence[Path] = (), confidence: Path | None = None,
) -> list[Path]:
    """Write `output` (.tif: COG; .vrt: VRT over the tiles), its .qml and the optional
    confidence, committed together (`commit.commit_together`) like a single-scene output."""
    jobs = [(output, tiles, float(nodata), True)]
    if confidence is not None:
        jobs.append((confidence, confidence_tiles, CONFIDENCE_NODATA, False))
    for final, *_ in jobs:
        commit.remove_stale_partials(final)
    tag = commit.run_tag()
    pairs: list[tuple[Path | None, Path]] = []
    # PAM holds GeoTIFF category names: on for our own outputs even where GDAL_PAM_ENABLED=NO.
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
    try:
        for final, parts, nd, is_classes in jobs:
            tmp = commit.partial_path(final, tag)
            pairs.append((tmp, final))
            _write_one(grid, classes, nd, parts, final, tmp, is_classes)
            pairs.append((_aux(tmp) if _aux(tmp).exists() else None, _aux(final)))
        qml = commit.partial_path(output, tag, ".qml")
        qml.write_text(paletted_qml(classes), encoding="utf-8")
        pairs.append((qml, qml_path(output)))
        commit.commit_together(pairs, tag)
    except BaseException:
        commit.remove_files([p for p, _ in pairs if p is not None])
        raise
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
    return [final for final, *_ in jobs]


def _write_one(
    grid: Grid, classes: Sequence[ClassInfo], nodata: float, parts: Sequence[Path],
    final: Path, tmp: Path, is_classes: bool,
) -> None:
    if final.suffix.lower() == ".vrt":
        vrt = tile_mosaic(parts, grid, tmp, nodata)
        if is_classes:
            style_classes(vrt, classes)
        vrt = None
        return
    vrt_path = tmp.with_suffix(".vrt")
    try:
        vrt = tile_mosaic(parts, grid, vrt_path, nodata)
        if is_classes:
            style_classes(vrt, classes)
        opts = COG_OPTIONS + [
            "OVERVIEW_RESAMPLING=NEAREST" if is_classes else "OVERVIEW_RESAMPLING=AVERAGE",
            "PREDICTOR=NO" if is_classes else "PREDICTOR=YES",
        ]
        out = gdal_call(f"Writing {final}", gdal.Translate, str(tmp), vrt,
                        options=gdal.TranslateOptions(format="COG", creationOptions=opts))
        if is_classes:
            # The COG driver copies the colour table; the category names go to the .aux.xml.
            out.GetRasterBand(1).SetCategoryNames(category_names(classes))
        out = None  # noqa: F841 - closing writes it
        vrt = None
    finally:
        vrt_path.unlink(missing_ok=True)
