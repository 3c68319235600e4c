"""A layer aligned onto the output grid on the fly, one requested window at a time.

For each window, the part of the source that covers it (plus a margin for the resampling
kernel) is read through `reading.read_window` (so nodata, NaN, masks and alpha bands count as
missing exactly as on the direct path), turned into linear power when it is SAR in dB (an
average or an interpolation of dB values is not the dB of the mean backscatter: -5 and -25 dB
average to -8 dB in power, -15 dB in dB), resampled with GDAL's warper into an in-memory window
of the output grid, and turned back into dB. No copy of the scene, nothing kept in GDAL's cache
between windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from osgeo import gdal, gdal_array

from .gdal_errors import RasterError, gdal_call, gdal_errors
from .grid import Grid, Window, choose_resampling, overlap_fraction, pixel_ratio, raster_grid
from .reading import StripReader, read_window

_EDGE_POINTS = 21  # points per window edge when finding the source footprint
_DB_TO_LN = np.float32(np.log(10.0) / 10.0)  # 10 ** (x / 10) = exp(x * ln(10) / 10)
# Source pixels read at once (float32, per band): a window over a much finer layer is warped
# in parts so that memory follows the output window, not the source's resolution.
MAX_SOURCE_PIXELS = 8 * 2**20


class WarpedReader(StripReader):
    """Windows of the output grid from a layer on another grid (any CRS, resolution, extent).
    Pixels without a source value come back as NaN."""

    warped = True

    def __init__(
        self,
        ds: gdal.Dataset,
        bands: Sequence[int],
        target: Grid,
        role: str,
        resampling: str,
        linear_power: bool = False,
    ) -> None:
        super().__init__(ds, bands, Window(0, 0, target.width, target.height), role)
        self.target = target
        self.resampling = resampling
        self.linear_power = linear_power
        self.source = raster_grid(ds, role)
        self._buf = np.empty(0, np.float32)  # the source window's values, reused
        # Margin in source pixels around the footprint: the kernel's reach (average: one output
        # pixel's worth of source pixels; bilinear: one pixel) plus one for rounding.
        self._margin = int(math.ceil(pixel_ratio(target, self.source))) + 2
        self._options = gdal.WarpOptions(
            resampleAlg=resampling,
            srcNodata="nan",
            dstNodata="nan",
            warpOptions=["INIT_DEST=NO_DATA"],
            # The approximate transformer's error in pixels: GDAL's default (0.125) drifts up
            # to a tenth of a pixel over a wide window; 0.01 costs the same and stays near exact.
            errorThreshold=0.01,
            multithread=False,
        )

    def read_window(self, row: int, height: int, col: int, width: int) -> np.ndarray:
        ds = self._dataset()
        out = np.empty((self.band_count, height, width), np.float32)
        dst = self._over(out, self.target.window(Window(col, row, width, height)))
        src_win = self._source_window(ds, dst)
        if src_win is None:  # the window lies outside the source layer
            return np.full((self.band_count, height, width), np.nan, np.float32)
        if src_win.width * src_win.height > MAX_SOURCE_PIXELS and width * height > 1:
            return self._in_parts(row, height, col, width)
        values = read_window(ds, self.bands, src_win, self.role, self._buffer(src_win))
        if self.linear_power:
            np.multiply(values, _DB_TO_LN, out=values)
            np.exp(values, out=values)
        src = self._over(values, self.source.window(src_win))
        gdal_call(
            f"Aligning the {self.role} layer on the optical grid",
            gdal.Warp,
            dst,
            src,
            options=self._options,
        )
        dst = src = None  # the warp wrote into `out` itself
        if self.linear_power:
            with np.errstate(divide="ignore", invalid="ignore"):
                np.log10(out, out=out)
            np.multiply(out, np.float32(10.0), out=out)
            out[np.isneginf(out)] = np.nan  # zero power has no dB value: missing
        return out

    def _in_parts(self, row: int, height: int, col: int, width: int) -> np.ndarray:
        """The window in two halves (along its longer side), each read the same way."""
        if width >= height:
            half = width // 2
            parts = (self.read_window(row, height, col, half),
                     self.read_window(row, height, col + half, width - half))
            return np.concatenate(parts, axis=2)
        half = height // 2
        parts = (self.read_window(row, half, col, width),
                 self.read_window(row + half, height - half, col, width))
        return np.concatenate(parts, axis=1)

    def _buffer(self, win: Window) -> np.ndarray:
        """A reused float32 [C, h, w] array for the source window (see read_window)."""
        need = self.band_count * win.height * win.width
        if self._buf.size < need:
            self._buf = np.empty(int(need * 1.25), np.float32)
        return self._buf[:need].reshape(self.band_count, win.height, win.width)

    @staticmethod
    def _over(values: np.ndarray, grid: Grid) -> gdal.Dataset:
        """An in-memory dataset over the C-contiguous [C, h, w] float32 array itself (no copy;
        keep the array alive while the dataset is used)."""
        ds = gdal_array.OpenArray(values)
        ds.SetGeoTransform(grid.gt())
        ds.SetProjection(grid.crs_wkt)
        return ds

    def _source_window(self, ds: gdal.Dataset, dst: gdal.Dataset) -> Window | None:
        """The source pixels whose footprint covers `dst` (with the kernel's margin)."""
        w, h = dst.RasterXSize, dst.RasterYSize
        t = np.linspace(0.0, 1.0, _EDGE_POINTS)
        edge = [(x * w, 0.0) for x in t] + [(x * w, float(h)) for x in t]
        edge += [(0.0, y * h) for y in t] + [(float(w), y * h) for y in t]
        with gdal_errors():
            tr = gdal.Transformer(dst, ds, [])
            points, ok = tr.TransformPoints(0, edge)
        xs = [p[0] for p, good in zip(points, ok, strict=True) if good and math.isfinite(p[0])]
        ys = [p[1] for p, good in zip(points, ok, strict=True) if good and math.isfinite(p[1])]
        if not xs:
            return None
        m = self._margin
        x0 = max(int(math.floor(min(xs))) - m, 0)
        x1 = min(int(math.ceil(max(xs))) + m, ds.RasterXSize)
        y0 = max(int(math.floor(min(ys))) - m, 0)
        y1 = min(int(math.ceil(max(ys))) + m, ds.RasterYSize)
        if x1 <= x0 or y1 <= y0:
            return None
        return Window(x0, y0, x1 - x0, y1 - y0)


def aligned_reader(
    ds: gdal.Dataset,
    bands: Sequence[int],
    target: Grid,
    role: str,
    full_target: Grid | None = None,
    target_window: Window | None = None,
    linear_power: bool = False,
) -> StripReader:
    """A reader of `ds` on the `target` grid: direct when the grids coincide, else one that
    warps each requested window (`WarpedReader`; in linear power when `linear_power`).

    `full_target`/`target_window` say where `target` sits in the optical layer, so a SAR layer
    on exactly the optical grid is read directly even when EXTENT selects a window of it.
    """
    source = raster_grid(ds, role)
    win = target_window or Window(0, 0, target.width, target.height)
    if full_target is not None and source.same_as(full_target):
        return StripReader(ds, bands, win, role)
    if source.same_as(target):
        return StripReader(ds, bands, Window(0, 0, target.width, target.height), role)
    check_alignable(target, source, role, target_window is not None)
    return WarpedReader(ds, bands, target, role, choose_resampling(target, source), linear_power)


def check_alignable(target: Grid, source: Grid, role: str, windowed: bool) -> None:
    """Refuse layers that cannot be put on one grid, saying what to do."""
    if not target.georeferenced or not source.georeferenced:
        raise RasterError(
            f"The optical and {role} layers cannot be aligned: "
            + (
                "neither is georeferenced and their sizes differ "
                f"({target.width}x{target.height} vs {source.width}x{source.height}). "
                if not target.georeferenced and not source.georeferenced
                else "only one of them is georeferenced. "
            )
            + "Georeference both (Raster > Georeferencer) or give two layers of the same size."
        )
    if not target.crs_wkt or not source.crs_wkt:
        raise RasterError(
            f"The {'optical' if not target.crs_wkt else role} layer has no CRS, so the layers "
            "cannot be aligned. Set its CRS (Layer Properties > Source, or gdal:assignprojection)."
        )
    if overlap_fraction(target, source) <= 0.0:
        raise RasterError(
            f"The {role} layer does not overlap the optical layer"
            + (" within EXTENT" if windowed else "")
            + ". Choose layers that cover the same area (check both CRSs), or another EXTENT."
        )
