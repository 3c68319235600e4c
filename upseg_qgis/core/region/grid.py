"""The output grid of a region job, and each role's mosaic as seen on it.

Default: the optical mosaic's own grid (as `upseg:segment` uses the optical layer's grid). The
user may set the CRS, the resolution and the extent; an extent alone in the mosaic's CRS selects
whole optical pixels (no resampling, like EXTENT in upseg:segment); a new CRS or resolution
gives a grid aligned to multiples of the resolution, onto which the optical mosaic is warped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from osgeo import gdal, osr

from ..raster.gdal_errors import RasterError, gdal_call
from ..raster.grid import (
    Grid,
    Window,
    choose_resampling,
    raster_grid,
    same_crs,
    transform_bounds,
    window_for_extent,
)
from ..raster.reading import open_raster


@dataclass(frozen=True)
class GridRequest:
    """What the user asked for; None = from the optical inputs."""

    crs: str | None = None  # anything GDAL understands: "EPSG:32631", WKT, PROJ string
    resolution: float | None = None  # output pixel size in the CRS's units
    extent: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax (in crs)

    def to_json(self) -> dict[str, object]:
        return {"crs": self.crs, "resolution": self.resolution,
                "extent": list(self.extent) if self.extent else None}


def crs_to_wkt(crs: str) -> str:
    srs = osr.SpatialReference()
    try:  # an error code, or an exception where osr raises (GDAL 3.10's bindings do)
        ok = srs.SetFromUserInput(crs) == 0
    except RuntimeError:
        ok = False
    if not ok:
        raise RasterError(f"The CRS '{crs}' is not understood. Give e.g. EPSG:32631 or a WKT.")
    return srs.ExportToWkt()


def output_grid(mosaic: Grid, req: GridRequest) -> Grid:
    """The output grid for `req` over the optical mosaic `mosaic`."""
    crs = crs_to_wkt(req.crs) if req.crs else mosaic.crs_wkt
    if req.resolution is not None and not req.resolution > 0:
        raise RasterError(f"The resolution must be positive, got {req.resolution}.")
    if same_crs(crs, mosaic.crs_wkt) and req.resolution in (None, mosaic.geotransform[1]):
        return mosaic.window(window_for_extent(mosaic, req.extent))
    bounds = req.extent or transform_bounds(mosaic.bounds, mosaic.crs_wkt, crs)
    if bounds is None:
        raise RasterError("The optical mosaic's extent cannot be expressed in the requested CRS.")
    res = req.resolution or _native_resolution(mosaic, bounds)
    xmin, ymin, xmax, ymax = bounds
    if not (xmax > xmin and ymax > ymin):
        raise RasterError("The extent is empty: give xmin < xmax and ymin < ymax.")
    # Snapped outward to multiples of the resolution, so neighbouring jobs share one lattice.
    x0, y1 = math.floor(xmin / res) * res, math.ceil(ymax / res) * res
    width = max(1, math.ceil(round((xmax - x0) / res, 6)))
    height = max(1, math.ceil(round((y1 - ymin) / res, 6)))
    return Grid(width, height, (x0, res, 0.0, y1, 0.0, -res), crs)


def _native_resolution(mosaic: Grid, bounds: tuple[float, float, float, float]) -> float:
    """About the mosaic's pixel size, in the units of the new CRS."""
    return min((bounds[2] - bounds[0]) / mosaic.width, (bounds[3] - bounds[1]) / mosaic.height)


def sub_window(source: Grid, target: Grid) -> Window | None:
    """Where `target` sits in `source` when it is a whole-pixel window of it, else None."""
    if source.geotransform is None or target.geotransform is None:
        return None
    s, t = source.geotransform, target.geotransform
    if abs(s[1] - t[1]) > 1e-9 * abs(s[1]) or abs(s[5] - t[5]) > 1e-9 * abs(s[5]):
        return None
    if not same_crs(source.crs_wkt, target.crs_wkt):
        return None
    cx, cy = (t[0] - s[0]) / s[1], (t[3] - s[3]) / s[5]
    if abs(cx - round(cx)) > 1e-6 or abs(cy - round(cy)) > 1e-6:
        return None
    win = Window(round(cx), round(cy), target.width, target.height)
    if win.xoff < 0 or win.yoff < 0 or win.xoff + win.width > source.width:
        return None
    if win.yoff + win.height > source.height:
        return None
    return win


def on_grid(path: str, role: str, target: Grid, dest: Path, warp: bool) -> str:
    """A dataset of `path` on exactly `target`: itself, a window of it (no resampling), or,
    with `warp`, a float32 warped VRT (NaN where missing). Without `warp` the path is returned
    when it is not a window: the single-scene code aligns such a layer itself (the SAR)."""
    ds = open_raster(path, role)
    source = raster_grid(ds, role)
    if source.same_as(target):
        return path
    win = sub_window(source, target)
    if win is not None:
        opts = gdal.TranslateOptions(format="VRT", srcWin=[win.xoff, win.yoff, win.width,
                                                           win.height])
        gdal_call(f"Cutting the {role} mosaic to the output grid", gdal.Translate, str(dest),
                  ds, options=opts)
        return str(dest)
    if not warp:
        return path
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    opts = gdal.WarpOptions(
        format="VRT",
        dstSRS=target.crs_wkt,
        outputBounds=target.bounds,
        width=target.width,
        height=target.height,
        outputType=gdal.GDT_Float32,
        srcNodata=nodata,
        dstNodata="nan",
        resampleAlg=choose_resampling(target, source),
        errorThreshold=0.01,
    )
    gdal_call(f"Warping the {role} mosaic onto the output grid", gdal.Warp, str(dest), ds,
              options=opts)
    return str(dest)
