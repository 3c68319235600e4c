"""Reading a layer's bands as float32 with NaN where a pixel is missing.

Missing = the band's nodata value (compared in the band's own data type, as GDAL does), NaN,
a per-dataset mask or a zero in the alpha band (not a data band: `data_band_count`). Every path
that reads pixels (direct, warped, sampled for statistics) goes through `masked_float`, so they
all agree on what is missing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from osgeo import gdal

from .gdal_errors import RasterError, gdal_call
from .grid import Window

# Band metadata items that name a band when its description is empty (ENVI, SAFE, GEE, SNAP
# exports, our own files).
_NAME_ITEMS = ("BANDNAME", "BAND_NAME", "NAME", "POLARISATION", "POLARIZATION")
_GENERIC_LABEL = re.compile(r"^(band|layer|b)[ _-]?\d+$|^$", re.IGNORECASE)
_S2_BAND = re.compile(r"^b0*(\d+)a?$", re.IGNORECASE)


def open_raster(path: str, role: str) -> gdal.Dataset:
    """Open a raster read-only, with an error that names the layer's role."""
    if not path:
        raise RasterError(f"No {role} layer was given.")
    try:
        return gdal_call(f"Opening the {role} layer {path}", gdal.Open, path, gdal.GA_ReadOnly)
    except RasterError as exc:
        raise RasterError(
            f"{exc}. Choose a raster layer that GDAL can read (GeoTIFF, VRT, JP2, ...)."
        ) from None


def alpha_band(ds: gdal.Dataset) -> int | None:
    """The dataset's alpha band, if any: its last band when that says it is alpha
    (GCI_AlphaBand, as `gdalbuildvrt -addalpha` and `gdalwarp -dstalpha` write it), or when GDAL
    reads it as the bands' mask (GMF_ALPHA)."""
    n = ds.RasterCount
    if n < 2:
        return None
    if (ds.GetRasterBand(n).GetColorInterpretation() == gdal.GCI_AlphaBand
            or ds.GetRasterBand(1).GetMaskFlags() & gdal.GMF_ALPHA):
        return n
    return None


def data_band_count(ds: gdal.Dataset) -> int:
    """The bands that hold data: an alpha band only says which pixels are missing."""
    return ds.RasterCount - (alpha_band(ds) is not None)


def band_labels(ds: gdal.Dataset) -> list[str]:
    """Per data band (not the alpha band): its description, else a naming metadata item
    (BANDNAME, POLARISATION, ...), else its colour interpretation name (e.g. 'Red'), else ''.
    Band choice counts only these, for a single scene and a region mosaic alike."""
    labels = []
    for i in range(1, data_band_count(ds) + 1):
        band = ds.GetRasterBand(i)
        label = (band.GetDescription() or "").strip()
        if not label:
            md = {k.upper(): v for k, v in (band.GetMetadata() or {}).items()}
            label = next((md[k].strip() for k in _NAME_ITEMS if md.get(k, "").strip()), "")
        if not label:
            ci = band.GetColorInterpretation()
            if ci not in (gdal.GCI_Undefined, gdal.GCI_GrayIndex, gdal.GCI_PaletteIndex):
                label = gdal.GetColorInterpretationName(ci) or ""
        labels.append(label)
    return labels


def is_generic_label(label: str) -> bool:
    """'' or 'Band 1' / 'layer_2': says nothing about what the band holds. ('B1' names a
    Sentinel-2 band and is not generic.)"""
    return bool(_GENERIC_LABEL.match(label.strip())) and not _S2_BAND.match(label.strip())


def band_data_types(ds: gdal.Dataset, bands: Sequence[int]) -> list[str]:
    return [gdal.GetDataTypeName(ds.GetRasterBand(b).DataType) for b in bands]


def nodata_hits(values: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """Where one band's raw values equal its nodata value, compared in the band's own data type
    (a Float64 nodata of 0.1 matches the stored 0.1; an Int16 band cannot hold 0.5 or 40000, so
    such a nodata matches nothing, as in GDAL). None: nothing to compare (no nodata, or NaN,
    which the finiteness check covers)."""
    if nodata is None or math.isnan(nodata):
        return None
    dt = values.dtype
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        if not float(nodata).is_integer() or not info.min <= nodata <= info.max:
            return None
        return values == dt.type(int(nodata))
    if math.isinf(nodata):
        return values == nodata
    return values == dt.type(nodata)


def masked_float(
    ds: gdal.Dataset, bands: Sequence[int], raw: np.ndarray,
    mask_reader: Callable[[gdal.Band], Any],
) -> np.ndarray:
    """Raw band values [C, h, w] (their source dtype) -> float32, NaN where a pixel is missing.
    `mask_reader` reads a mask or alpha band over the same pixels as `raw`. A float32 `raw` is
    updated in place (readers pass arrays nobody else holds)."""
    out = raw.astype(np.float32, copy=False)
    alpha, alpha_zero = alpha_band(ds), None
    for i, b in enumerate(bands):
        band = ds.GetRasterBand(b)
        hits = nodata_hits(raw[i], band.GetNoDataValue())
        if hits is not None:
            out[i][hits] = np.nan
        flags = band.GetMaskFlags()
        if not flags & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA):
            mask = mask_reader(band.GetMaskBand())  # per-dataset mask or alpha band
            if mask is not None:
                out[i][mask == 0] = np.nan
        elif alpha is not None:
            # GDAL takes an alpha band for the mask only beside 1 or 3 bands without nodata
            # (and Byte or UInt16): beside more, its zero pixels are missing all the same.
            if alpha_zero is None:
                alpha_zero = mask_reader(ds.GetRasterBand(alpha)) == 0
            out[i][alpha_zero] = np.nan
        if np.issubdtype(raw.dtype, np.floating):
            inf = np.isinf(out[i])  # NaN is already NaN: only infinities need marking
            if inf.any():
                out[i][inf] = np.nan
    return out


def read_window(ds: gdal.Dataset, bands: Sequence[int], win: Window, role: str,
                buffer: np.ndarray | None = None) -> np.ndarray:
    """Selected bands over `win`, float32 [C, h, w], NaN where missing.

    buffer: a float32 [C, h, w] array to read into when every band is Float32 (the values
    then need no conversion, and a caller reading many windows of varying size avoids a new
    allocation each time: glibc keeps such freed blocks, so the process would grow)."""
    all_f32 = all(ds.GetRasterBand(b).DataType == gdal.GDT_Float32 for b in bands)
    raw = gdal_call(
        f"Reading the {role} layer",
        ds.ReadAsArray,
        win.xoff,
        win.yoff,
        win.width,
        win.height,
        band_list=list(bands),
        buf_obj=buffer if buffer is not None and all_f32 else None,
    )
    if raw.ndim == 2:
        raw = raw[np.newaxis]

    def mask(band: gdal.Band) -> np.ndarray | None:
        return band.ReadAsArray(win.xoff, win.yoff, win.width, win.height)

    return masked_float(ds, bands, raw, mask)


class StripReader:
    """Windows of the output grid from a layer on that same grid (offset by `window`)."""

    warped = False

    def __init__(self, ds: gdal.Dataset, bands: Sequence[int], window: Window, role: str) -> None:
        self.ds: gdal.Dataset | None = ds
        self.bands = list(bands)
        self.window = window
        self.role = role

    @property
    def band_count(self) -> int:
        return len(self.bands)

    def read(self, row: int, height: int) -> np.ndarray:
        return self.read_window(row, height, 0, self.window.width)

    def read_window(self, row: int, height: int, col: int, width: int) -> np.ndarray:
        """float32 [C, height, width] from output-grid row `row`, column `col`."""
        ds = self._dataset()  # a local reference: close() from another thread cannot pull it
        w = self.window
        return read_window(ds, self.bands, Window(w.xoff + col, w.yoff + row, width, height),
                           self.role)

    def _dataset(self) -> gdal.Dataset:
        ds = self.ds
        if ds is None:
            raise RasterError(f"The {self.role} layer was closed (the run stopped).")
        return ds

    def release_cache(self) -> None:
        """Drop this layer's blocks from GDAL's block cache.

        Reading streams through the scene once; without this, GDAL keeps the blocks read up to
        GDAL_CACHEMAX (5 % of RAM by default), so memory grows with the scene. The pipeline
        calls it whenever the cache holds more than its budget. (On a read-only dataset,
        FlushCache only frees blocks.)
        """
        ds = self.ds
        if ds is not None:
            ds.FlushCache()

    def close(self) -> None:
        self.ds = None
