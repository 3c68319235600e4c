"""The outputs of one run: class raster (+ .aux.xml, .qml) and optional confidence raster.

Everything is written under partial names (`commit`), whole GeoTIFF blocks at a time
(`block_assembler`), and moved into place together by `OutputWriter.commit()`, or removed by
`abort()`. Used as a context manager, an exception aborts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from osgeo import gdal

from ..contract.metadata import ClassInfo
from . import commit
from .attribute_table import attribute_table, class_rows
from .block_assembler import CONFIDENCE_NODATA, BlockAssembler
from .gdal_errors import RasterError, gdal_call, gdal_errors
from .grid import Grid
from .styling import category_names, colour_table, paletted_qml, qml_path

OUTPUT_EXTENSIONS = (".tif", ".tiff")
BLOCK = 256


def check_output_path(path: str, inputs: Sequence[str] = (), what: str = "OUTPUT") -> Path:
    """Fail early, before any work, when `path` cannot become a GeoTIFF output."""
    if not path:
        raise RasterError(f"No {what} file was given.")
    out = Path(path)
    if out.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise RasterError(
            f"{what} must be a GeoTIFF file ending in .tif, not '{out.name}'. "
            "Choose a .tif file name."
        )
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise RasterError(
            f"Cannot write {what} to {out}: the folder {folder} does not exist (or is not a "
            "folder). Choose an existing folder you can write to."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RasterError(
            f"Cannot write {what} to {out}: no permission to write in {folder}. "
            "Choose a folder you can write to."
        )
    resolved = out.resolve()
    for src in inputs:
        if src and Path(src).exists() and Path(src).resolve() == resolved:
            raise RasterError(
                f"{what} would overwrite an input layer ({out}); choose another file name."
            )
    return out


@dataclass(frozen=True)
class OutputPaths:
    classes: Path
    confidence: Path | None = None


def _creation_options(predictor: int | None) -> list[str]:
    opts = ["TILED=YES", f"BLOCKXSIZE={BLOCK}", f"BLOCKYSIZE={BLOCK}", "COMPRESS=DEFLATE",
            "BIGTIFF=IF_SAFER"]
    return opts + ([f"PREDICTOR={predictor}"] if predictor else [])


def _aux(path: Path) -> Path:
    return Path(str(path) + ".aux.xml")


class OutputWriter:
    """Windows of classes (and confidence) in, committed files out. See the module docstring."""

    def __init__(self, paths: OutputPaths, grid: Grid, nodata: int,
                 classes: Sequence[ClassInfo]) -> None:
        self.paths = paths
        self.grid = grid
        self.nodata = nodata
        self.classes = tuple(classes)
        self.tag = commit.run_tag()
        self._tmp = commit.partial_path(paths.classes, self.tag)
        self._tmp_conf = (commit.partial_path(paths.confidence, self.tag)
                          if paths.confidence else None)
        self._tmp_qml = commit.partial_path(paths.classes, self.tag, ".qml")
        self._ds: gdal.Dataset | None = None
        self._conf_ds: gdal.Dataset | None = None
        self._assembler = BlockAssembler(grid.width, grid.height, BLOCK, nodata,
                                         paths.confidence is not None)
        self._open()

    def _create(self, path: Path, dtype: int, predictor: int | None, what: str) -> gdal.Dataset:
        driver = gdal.GetDriverByName("GTiff")
        ds = gdal_call(f"Creating {what} {path}", driver.Create, str(path), self.grid.width,
                       self.grid.height, 1, dtype, options=_creation_options(predictor))
        if self.grid.geotransform is not None:
            ds.SetGeoTransform(self.grid.geotransform)
        if self.grid.crs_wkt:
            ds.SetProjection(self.grid.crs_wkt)
        return ds

    def _open(self) -> None:
        try:
            # Category names live in the .aux.xml (PAM) for GeoTIFF: keep PAM on for our own
            # output even where GDAL_PAM_ENABLED=NO guards other folders.
            gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
            self._ds = self._create(self._tmp, gdal.GDT_Byte, None, "the output")
            band = self._ds.GetRasterBand(1)
            band.SetNoDataValue(self.nodata)
            ct = gdal.ColorTable()
            colours = colour_table(self.classes)
            for value, rgba in colours:
                ct.SetColorEntry(int(value), tuple(int(c) for c in rgba))
            band.SetRasterColorTable(ct)
            band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
            names = category_names(self.classes)
            band.SetCategoryNames(names)
            # Class names for GIS that read raster attribute tables (QGIS >= 3.30, ArcGIS).
            band.SetDefaultRAT(attribute_table(class_rows(colours, names)))
            band.SetDescription("class")
            if self._tmp_conf is not None:
                self._conf_ds = self._create(self._tmp_conf, gdal.GDT_Float32, 3,
                                             "the confidence output")
                cband = self._conf_ds.GetRasterBand(1)
                cband.SetNoDataValue(CONFIDENCE_NODATA)
                cband.SetDescription("max class probability")
        except RasterError as exc:
            self.abort()
            raise RasterError(f"{exc}. Choose an output folder you can write to.") from None
        finally:
            gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)

    def write_window(self, row: int, col: int, classes: np.ndarray,
                     confidence: np.ndarray | None) -> None:
        """A window of the output at (`row`, `col`); every pixel is written once, in any order.

        Only complete blocks reach GDAL (partly covered ones wait in the assembler), and they
        are flushed to disk at once: a compressed block is never written twice, and GDAL's
        cache does not fill up with the output as the scene goes by.
        """
        if self._ds is None:
            raise RasterError(f"Writing {self.paths.classes} after the output was closed.")
        classes = np.asarray(classes, dtype=np.uint8)
        conf = None
        if self._conf_ds is not None and confidence is not None:
            conf = np.asarray(confidence, dtype=np.float32)
        writes = self._assembler.add(row, col, classes, conf)
        if writes:
            self._write_blocks(writes)

    def _write_blocks(self, writes: list[tuple[int, int, np.ndarray, np.ndarray | None]]) -> None:
        assert self._ds is not None
        with gdal_errors() as messages:
            band = self._ds.GetRasterBand(1)
            cband = self._conf_ds.GetRasterBand(1) if self._conf_ds is not None else None
            for r, c, cls, cf in writes:
                band.WriteArray(np.ascontiguousarray(cls), c, r)
                if cband is not None and cf is not None:
                    cband.WriteArray(np.ascontiguousarray(cf), c, r)
            for ds in (self._ds, self._conf_ds):
                if ds is not None:
                    ds.FlushCache()
        if messages:
            raise RasterError(
                f"Writing {self.paths.classes} failed: {'; '.join(messages)} (disk full?)")

    @property
    def pending_bytes(self) -> int:
        """Memory held in partly written blocks."""
        return self._assembler.pending_bytes

    def _close(self) -> list[str]:
        with gdal_errors() as messages:
            gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
            try:
                for ds in (self._ds, self._conf_ds):
                    if ds is not None:
                        ds.FlushCache()
                self._ds = None  # closing writes the last blocks and the .aux.xml
                self._conf_ds = None
            finally:
                gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
        return messages

    def _pairs(self) -> list[tuple[Path | None, Path]]:
        """(temporary file or None, final path) for every file this run owns."""
        pairs: list[tuple[Path | None, Path]] = [(self._tmp, self.paths.classes)]
        pairs.append((_aux(self._tmp) if _aux(self._tmp).exists() else None,
                      _aux(self.paths.classes)))
        pairs.append((self._tmp_qml, qml_path(self.paths.classes)))
        if self._tmp_conf is not None and self.paths.confidence is not None:
            pairs.append((self._tmp_conf, self.paths.confidence))
            tmp_aux = _aux(self._tmp_conf)
            pairs.append((tmp_aux if tmp_aux.exists() else None, _aux(self.paths.confidence)))
        return pairs

    def commit(self) -> None:
        """Finish the files and move all of them into place together (see `commit`)."""
        try:
            if self._ds is not None and self._assembler.pending_bytes:
                raise RasterError(
                    f"Writing {self.paths.classes} failed: {self._assembler.pending_blocks} "
                    "block(s) were never completed (an internal error; please report it).")
            messages = self._close()
            if messages:
                raise RasterError(f"Writing {self.paths.classes} failed: {'; '.join(messages)}")
            self._tmp_qml.write_text(paletted_qml(self.classes), encoding="utf-8")
            commit.commit_together(self._pairs(), self.tag)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Remove every temporary file of this run (the final paths are left as they were)."""
        self._close()
        commit.remove_files(self.partial_paths)

    @property
    def partial_paths(self) -> list[Path]:
        paths = [self._tmp, _aux(self._tmp), self._tmp_qml]
        if self._tmp_conf is not None:
            paths += [self._tmp_conf, _aux(self._tmp_conf)]
        return paths

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
