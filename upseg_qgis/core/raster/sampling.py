"""A sample of a layer's values for statistics (unit detection), without decoding it all."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from osgeo import gdal

from . import reading
from .gdal_errors import gdal_call
from .grid import Window

# Layers up to this many pixels (or with overviews) are sampled by one decimated read; larger
# ones by patches, so that statistics do not decode the whole scene.
SAMPLE_FULL_READ_PIXELS = 2048 * 2048


def sample_values(ds: gdal.Dataset, bands: Sequence[int], role: str, size: int = 256) -> np.ndarray:
    """About size x size values per band, spread over the whole layer, NaN where missing.

    Small layers and layers with overviews: one decimated read (GDAL uses the overviews). Large
    layers without overviews: a decimated read would decode every block of the scene (tens of
    seconds and GDAL_CACHEMAX of memory for a large scene), so `size` / 32 x `size` / 32
    patches of 32 x 32 pixels, one per block they start in, are read instead; the blocks read
    are dropped from GDAL's cache afterwards.
    """
    w, h = ds.RasterXSize, ds.RasterYSize
    first = ds.GetRasterBand(bands[0])
    if w * h <= SAMPLE_FULL_READ_PIXELS or first.GetOverviewCount() > 0:
        return _decimated(ds, bands, role, min(w, size), min(h, size))
    patch, n = 32, max(1, size // 32)
    block_w, block_h = first.GetBlockSize()
    patches = []
    for y in _spread(h, n, patch, block_h):
        row = [
            reading.read_window(ds, bands, Window(x, y, patch, patch), role)
            for x in _spread(w, n, patch, block_w)
        ]
        patches.append(np.concatenate(row, axis=2))
    ds.FlushCache()
    return np.concatenate(patches, axis=1)


def _decimated(ds: gdal.Dataset, bands: Sequence[int], role: str, bx: int, by: int) -> np.ndarray:
    raw = gdal_call(
        f"Reading the {role} layer",
        ds.ReadAsArray,
        band_list=list(bands),
        buf_xsize=bx,
        buf_ysize=by,
    )
    if raw.ndim == 2:
        raw = raw[np.newaxis]

    def mask(band: gdal.Band) -> np.ndarray | None:
        return band.ReadAsArray(buf_xsize=bx, buf_ysize=by)

    return reading.masked_float(ds, bands, raw, mask)


def _spread(length: int, n: int, patch: int, block: int) -> list[int]:
    """`n` patch offsets spread evenly over `length`, each moved to the start of its block so
    that a patch decodes a single block."""
    out = []
    for c in np.linspace(0, max(length - patch, 0), n):
        start = int(c) // max(block, 1) * max(block, 1)
        out.append(max(0, min(start, length - patch)))
    return out
