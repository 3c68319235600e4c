"""Band choice from descriptions (real 13-band Sentinel-2) and unit detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from tests.toy_model import toy_metadata
from upseg_qgis.core.bands import BandSelectionError, select_bands
from upseg_qgis.core.metadata import parse_metadata
from upseg_qgis.core.reading import band_data_types, band_labels, open_raster
from upseg_qgis.core.sampling import sample_values
from upseg_qgis.core.units import UnitsError, ValueStats, plausible_units, resolve_units

META = parse_metadata(toy_metadata())
S2_LABELS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]


def test_real_sentinel2_bands_chosen_from_descriptions(shared_data: Path) -> None:
    ds = open_raster(str(shared_data / "sen1floods11_sample" / "Spain_7370579_S2Hand.tif"),
                     "optical")
    labels = band_labels(ds)
    assert len(labels) == 13 and set(labels) == set(S2_LABELS)
    sel = select_bands(labels, META.optical)
    assert sel.how == "descriptions"
    assert [labels[b - 1] for b in sel.bands] == ["B4", "B3", "B2"]
    s1 = open_raster(str(shared_data / "sen1floods11_sample" / "Spain_7370579_S1Hand.tif"), "SAR")
    assert select_bands(band_labels(s1), META.sar, role="SAR").bands == (1,)  # VV, not VH


def test_band_selection_fallbacks_and_errors() -> None:
    # Zero-padded names and case do not matter.
    assert select_bands(["b02", "B03", "b04"], META.optical).bands == (3, 2, 1)
    # Descriptions that do not name the bands: the first bands, with a warning.
    sel = select_bands(["a", "b", "c", "d"], META.optical)
    assert sel.bands == (1, 2, 3) and sel.warnings
    assert not select_bands(["a", "b", "c"], META.optical).warnings
    # The user's choice is used as given, after checks.
    assert select_bands(S2_LABELS, META.optical, [4, 3, 2]).bands == (4, 3, 2)
    with pytest.raises(BandSelectionError, match="takes 3 band.*lists 2"):
        select_bands(S2_LABELS, META.optical, [4, 3])
    with pytest.raises(BandSelectionError, match="has 13 band"):
        select_bands(S2_LABELS, META.optical, [4, 3, 14])
    with pytest.raises(BandSelectionError, match="has only 2"):
        select_bands(["VV", "VH"], META.optical)


def _stats(values: np.ndarray, dtype: str) -> ValueStats:
    return ValueStats.of(values, dtype)


def test_units_detected_from_dtype_and_values() -> None:
    rng = np.random.default_rng(0)
    u8 = _stats(rng.integers(0, 256, 5000), "Byte")
    dn = _stats(rng.integers(200, 4000, 5000), "Int16")
    db = _stats(rng.normal(-14, 4, 5000), "Float32")
    lin = _stats(10 ** (rng.normal(-14, 4, 5000) / 10), "Float32")
    refl = _stats(rng.uniform(0.01, 0.4, 5000), "Float32")
    assert resolve_units("auto", META.optical, u8)[0] == "uint8_rendering"
    assert resolve_units("auto", META.optical, dn)[0] == "reflectance_x10000"
    assert resolve_units("auto", META.optical, refl)[0] == "reflectance"
    assert resolve_units("auto", META.sar, db, "SAR", "SAR_UNITS")[0] == "sar_db"
    assert resolve_units("auto", META.sar, lin, "SAR", "SAR_UNITS")[0] == "sar_linear"
    assert resolve_units("auto", META.sar, u8, "SAR", "SAR_UNITS")[0] == "uint8_rendering"
    assert plausible_units(db) == ["sar_db"]


def test_units_refused_when_the_model_does_not_accept_them() -> None:
    meta = toy_metadata()
    meta["inputs"]["optical"]["conversions"] = []  # only 8-bit renderings
    spec = parse_metadata(meta).optical
    dn = ValueStats.of(np.arange(100, 5000, dtype=np.float64), "UInt16")
    with pytest.raises(UnitsError, match="OPTICAL_UNITS"):
        resolve_units("auto", spec, dn)
    with pytest.raises(UnitsError, match="accepts only uint8_rendering"):
        resolve_units("reflectance", spec, dn)
    # The user's explicit choice wins, with a warning when the values disagree.
    bytes_ = ValueStats.of(np.arange(0, 200.0), "Byte")
    units, how, warns = resolve_units("sar_db", META.sar, bytes_, "SAR", "SAR_UNITS")
    assert units == "sar_db" and how == "set by the user" and warns
    with pytest.raises(UnitsError, match="no valid pixels"):
        resolve_units("auto", META.sar, ValueStats.of(np.full(10, np.nan), "Float32"))


def test_units_of_the_real_sentinel_files(shared_data: Path) -> None:
    folder = shared_data / "sen1floods11_sample"
    s2 = open_raster(str(folder / "Spain_7370579_S2Hand.tif"), "optical")
    stats = ValueStats.of(sample_values(s2, [4, 3, 2], "optical"), band_data_types(s2, [4])[0])
    assert resolve_units("auto", META.optical, stats)[0] == "reflectance_x10000"
    s1 = open_raster(str(folder / "Spain_7370579_S1Hand.tif"), "SAR")
    stats = ValueStats.of(sample_values(s1, [1], "SAR"), band_data_types(s1, [1])[0])
    assert resolve_units("auto", META.sar, stats, "SAR", "SAR_UNITS")[0] == "sar_db"


def test_band_labels_use_colour_interpretation(tmp_path: Path) -> None:
    ds = gdal.GetDriverByName("MEM").Create("", 4, 4, 3, gdal.GDT_Byte)
    for i, ci in enumerate((gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand)):
        ds.GetRasterBand(i + 1).SetColorInterpretation(ci)
    assert band_labels(ds) == ["Red", "Green", "Blue"]
    assert select_bands(band_labels(ds), META.optical).bands == (1, 2, 3)
