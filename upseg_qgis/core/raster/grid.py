"""Pixel grids and windows: the output grid, EXTENT as a window, footprints in another CRS."""

from __future__ import annotations

import math
from dataclasses import dataclass

from osgeo import gdal, osr

from .gdal_errors import RasterError, gdal_errors


@dataclass(frozen=True)
class Window:
    xoff: int
    yoff: int
    width: int
    height: int


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid. geotransform None = not georeferenced (pixel space only)."""

    width: int
    height: int
    geotransform: tuple[float, float, float, float, float, float] | None
    crs_wkt: str = ""

    @property
    def georeferenced(self) -> bool:
        return self.geotransform is not None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in the grid's CRS."""
        gt = self.gt()
        x0, y0 = gt[0], gt[3]
        x1, y1 = x0 + self.width * gt[1], y0 + self.height * gt[5]
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def gt(self) -> tuple[float, float, float, float, float, float]:
        if self.geotransform is None:
            raise RasterError("This operation needs a georeferenced layer.")
        return self.geotransform

    def window(self, win: Window) -> Grid:
        """The sub-grid of `win` (pixel offsets relative to this grid)."""
        gt = self.geotransform
        if gt is not None:
            gt = (gt[0] + win.xoff * gt[1], gt[1], 0.0, gt[3] + win.yoff * gt[5], 0.0, gt[5])
        return Grid(win.width, win.height, gt, self.crs_wkt)

    def same_as(self, other: Grid, tol: float = 1e-6) -> bool:
        """Same size, same pixel positions (to `tol` pixel) and the same CRS."""
        if (self.width, self.height) != (other.width, other.height):
            return False
        if self.geotransform is None or other.geotransform is None:
            return self.geotransform is None and other.geotransform is None
        a, b = self.geotransform, other.geotransform
        px = abs(a[1]) or 1.0
        if any(abs(a[i] - b[i]) > tol * px for i in range(6)):
            return False
        return same_crs(self.crs_wkt, other.crs_wkt)


def srs_of(wkt: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    with gdal_errors():
        ok = srs.ImportFromWkt(wkt) == 0
    if not ok:
        raise RasterError("A layer's CRS cannot be understood by GDAL/PROJ.")
    # x = easting/longitude everywhere: that is how geotransforms are expressed.
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def same_crs(wkt_a: str, wkt_b: str) -> bool:
    if not wkt_a or not wkt_b:
        return wkt_a == wkt_b
    return bool(srs_of(wkt_a).IsSame(srs_of(wkt_b)))


def raster_grid(ds: gdal.Dataset, role: str) -> Grid:
    gt = ds.GetGeoTransform(can_return_null=True)
    wkt = ds.GetProjection() or ""
    if gt is not None:
        gt = tuple(float(v) for v in gt)
        if gt[2] != 0.0 or gt[4] != 0.0 or gt[1] <= 0 or gt[5] >= 0:
            raise RasterError(
                f"The {role} layer is rotated or not north-up. Warp it to a north-up grid first "
                "(Raster > Projections > Warp, or gdal:warpreproject)."
            )
    return Grid(ds.RasterXSize, ds.RasterYSize, gt, wkt)  # type: ignore[arg-type]


def window_for_extent(grid: Grid, extent: tuple[float, float, float, float] | None) -> Window:
    """Pixels of `grid` touched by `extent` (xmin, ymin, xmax, ymax in the grid's CRS)."""
    if extent is None:
        return Window(0, 0, grid.width, grid.height)
    if not grid.georeferenced:
        raise RasterError(
            "EXTENT needs a georeferenced optical layer; this one has no geotransform. "
            "Leave EXTENT empty to process the whole layer."
        )
    gt = grid.gt()
    xmin, ymin, xmax, ymax = extent
    if not (xmax > xmin and ymax > ymin):
        raise RasterError("EXTENT is empty: give an extent with a non-zero width and height.")
    # Outward to whole pixels, then clipped to the layer.
    eps = 1e-9
    c0 = max(math.floor((xmin - gt[0]) / gt[1] + eps), 0)
    c1 = min(math.ceil((xmax - gt[0]) / gt[1] - eps), grid.width)
    r0 = max(math.floor((ymax - gt[3]) / gt[5] + eps), 0)
    r1 = min(math.ceil((ymin - gt[3]) / gt[5] - eps), grid.height)
    if c1 <= c0 or r1 <= r0:
        raise RasterError(
            "EXTENT does not overlap the optical layer. Choose an extent inside the optical "
            "layer, or leave EXTENT empty to process all of it."
        )
    return Window(c0, r0, c1 - c0, r1 - r0)


def transform_bounds(
    bounds: tuple[float, float, float, float], src_wkt: str, dst_wkt: str
) -> tuple[float, float, float, float] | None:
    """`bounds` as seen in another CRS (densified edges); None when PROJ cannot do it."""
    if same_crs(src_wkt, dst_wkt):
        return bounds
    try:
        with gdal_errors():
            ct = osr.CoordinateTransformation(srs_of(src_wkt), srs_of(dst_wkt))
            out = ct.TransformBounds(*bounds, 21)
    except (RuntimeError, TypeError, AttributeError):
        return None
    if out is None or not all(math.isfinite(v) for v in out):
        return None
    return tuple(float(v) for v in out)  # type: ignore[return-value]


def overlap_fraction(target: Grid, source: Grid) -> float:
    """Share of the target grid's area covered by the source layer's footprint (0..1)."""
    src_bounds = transform_bounds(source.bounds, source.crs_wkt, target.crs_wkt)
    if src_bounds is None:
        return 0.0
    tx0, ty0, tx1, ty1 = target.bounds
    sx0, sy0, sx1, sy1 = src_bounds
    w = min(tx1, sx1) - max(tx0, sx0)
    h = min(ty1, sy1) - max(ty0, sy0)
    if w <= 0 or h <= 0:
        return 0.0
    return float(w * h / ((tx1 - tx0) * (ty1 - ty0)))


def pixel_ratio(target: Grid, source: Grid) -> float:
    """Output pixel size over source pixel size (> 1: the source is finer); 1 when unknown."""
    src_bounds = transform_bounds(source.bounds, source.crs_wkt, target.crs_wkt)
    if src_bounds is None:
        return 1.0
    src_px = (src_bounds[2] - src_bounds[0]) / max(source.width, 1)
    return target.gt()[1] / src_px if src_px > 0 else 1.0


def choose_resampling(target: Grid, source: Grid) -> str:
    """Bilinear, or average when the SAR pixels are much finer than the output's (speckle)."""
    return "average" if pixel_ratio(target, source) >= 2.0 else "bilinear"
