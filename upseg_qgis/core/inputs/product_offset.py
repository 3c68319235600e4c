"""The radiometric offset a Sentinel-2 style product states in its metadata.

From processing baseline 04.00 (25 January 2022) ESA's L1C and L2A products store
10000 x reflectance - OFFSET with OFFSET = RADIO_ADD_OFFSET (L1C) or BOA_ADD_OFFSET (L2A) =
-1000; before, no offset. Files keep that in metadata in one of several ways, read here:
- band or dataset metadata items RADIO_ADD_OFFSET / BOA_ADD_OFFSET (SAFE, GDAL's SENTINEL2
  driver, many exporters), or PROCESSING_BASELINE alone (04.00 and later imply -1000, which
  is reported but not applied: harmonised files keep the item);
- GDAL's own scale/offset: offset -1000 with scale 1, or scale 1e-4 with offset -0.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from osgeo import gdal

_ITEMS = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")
BASELINE_OFFSET = -1000.0  # ESA's offset from processing baseline 04.00
QUANTIFICATION = 10000.0


class ProductOffsetError(ValueError):
    """The metadata state offsets UPSeg cannot apply; the message says what to do."""


@dataclass(frozen=True)
class ProductOffset:
    value: float  # add to the stored value to get 10000 x reflectance
    source: str  # the metadata that said so
    implied: bool = False  # only PROCESSING_BASELINE says so: not applied without the user


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _items(md: dict[str, str]) -> ProductOffset | None:
    upper = {k.upper(): v for k, v in md.items()}
    for key in _ITEMS:
        value = _float(upper.get(key))
        if value is not None:
            return ProductOffset(value, key)
    baseline = _float(upper.get("PROCESSING_BASELINE"))
    if baseline is not None:
        value = BASELINE_OFFSET if baseline >= 4.0 else 0.0
        return ProductOffset(value, f"PROCESSING_BASELINE {upper['PROCESSING_BASELINE']}",
                             implied=True)
    return None


def _scale_offset(band: gdal.Band) -> ProductOffset | None:
    scale, offset = band.GetScale(), band.GetOffset()
    if not offset:
        return None
    if scale in (None, 1.0):
        return ProductOffset(float(offset), "the band's offset")
    if abs(scale * QUANTIFICATION - 1.0) < 1e-6:  # reflectance = DN * 1e-4 + offset
        return ProductOffset(float(offset) * QUANTIFICATION, "the band's scale and offset")
    return None


def product_offset(ds: gdal.Dataset, bands: Sequence[int]) -> ProductOffset | None:
    """The offset of the selected bands, or None when the file says nothing about it."""
    found: list[ProductOffset] = []
    for b in bands:
        band = ds.GetRasterBand(b)
        hit = _items(band.GetMetadata() or {}) or _scale_offset(band)
        if hit is not None:
            found.append(hit)
    if not found:
        return _items(ds.GetMetadata() or {})
    if len(found) != len(bands) or len({f.value for f in found}) > 1:
        raise ProductOffsetError(
            "The optical bands state different radiometric offsets ("
            + ", ".join(f"{f.value:g} from {f.source}" for f in found)
            + "). Remove the offsets (e.g. with the raster calculator) and set OPTICAL_UNITS."
        )
    return found[0]
