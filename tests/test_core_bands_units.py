"""Band choice from descriptions (real 13-band Sentinel-2) and unit detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from tests.toy_model import toy_metadata
from upseg_qgis.core.contract.parsing import parse_metadata
from upseg_qgis.core.inputs.bands import BandSelectionError, select_bands
from upseg_qgis.core.inputs.units import UnitsError, ValueStats, plausible_units, resolve_units
from upseg_qgis.core.raster.reading import band_data_types, band_labels, open_raster
from upseg_qgis.core.raster.sampling import sample_values

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


def test_band_selection_by_name_and_by_the_user() -> None:
    # Zero-padded names and case do not matter.
    assert select_bands(["b02", "B03", "b04"], META.optical).bands == (3, 2, 1)
    # The user's choice is used as given, after checks.
    assert select_bands(S2_LABELS, META.optical, [4, 3, 2]).bands == (4, 3, 2)
    with pytest.raises(BandSelectionError, match="takes 3 band.*lists 2"):
        select_bands(S2_LABELS, META.optical, [4, 3])
    with pytest.raises(BandSelectionError, match="has 13 band"):
        select_bands(S2_LABELS, META.optical, [4, 3, 14])
    with pytest.raises(BandSelectionError, match="has only 2"):
        select_bands(["VV", "VH"], META.optical)


def test_unnamed_bands_in_file_order_only_with_a_warning_naming_the_order() -> None:
    """A B2,B3,B4 stack without descriptions would run as B4,B3,B2 reversed: the file order is
    taken (the only possible reading), but never silently."""
    sel = select_bands(["", "", ""], META.optical)
    assert sel.bands == (1, 2, 3) and sel.how == "file order"
    (warning,) = sel.warnings
    assert "band 1 as B4, band 2 as B3, band 3 as B2" in warning and "OPTICAL_BANDS" in warning
    # Generic names say nothing either; a VH,VV file for a VV,VH model gets the same warning.
    meta = toy_metadata()
    meta["inputs"]["sar"]["bands"].append({"name": "VH", "description": "Sentinel-1 VH"})
    meta["inputs"]["sar"]["normalisation"].update(mean=[140.0, 140.0], std=[40.0, 40.0])
    sar2 = parse_metadata(meta).sar
    sel = select_bands(["Band 1", "band_2"], sar2, role="SAR", parameter="SAR_BANDS")
    assert sel.bands == (1, 2) and "band 1 as VV, band 2 as VH" in sel.warnings[0]
    assert select_bands(["VH", "VV"], sar2, role="SAR").bands == (2, 1)  # named: no guess


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (["", "", "", ""], "it has 4 bands without names"),  # 4-band layer, 3-band model
        (["a", "b", "c", "d"], r"named 1 \(a\), 2 \(b\)"),
        (["B8", "B11", "B12"], r"named 1 \(B8\), 2 \(B11\), 3 \(B12\)"),
        (["B4", "B3", "Alpha"], "named"),  # partly named
    ],
)
def test_ambiguous_band_layouts_are_refused(labels: list[str], match: str) -> None:
    with pytest.raises(BandSelectionError, match=match) as err:
        select_bands(labels, META.optical)
    assert "Set OPTICAL_BANDS" in str(err.value)


def test_a_single_band_named_for_another_polarisation_is_refused() -> None:
    with pytest.raises(BandSelectionError, match=r"named 1 \(VH\).*SAR_BANDS"):
        select_bands(["VH"], META.sar, role="SAR", parameter="SAR_BANDS")
    assert select_bands([""], META.sar, role="SAR").warnings  # unnamed: taken, with a warning


def test_band_names_from_metadata_items() -> None:
    ds = gdal.GetDriverByName("MEM").Create("", 4, 4, 2, gdal.GDT_Float32)
    ds.GetRasterBand(1).SetMetadataItem("POLARISATION", "VH")
    ds.GetRasterBand(2).SetMetadataItem("BANDNAME", "VV")
    assert band_labels(ds) == ["VH", "VV"]
    assert select_bands(band_labels(ds), META.sar, role="SAR").bands == (2,)


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


def test_linear_sar_with_bright_targets_is_still_linear() -> None:
    """Percentiles, not the maximum, decide: a few corner reflectors (power 1000) in an urban
    linear scene (1st..99th percentile 0.02..4) must not make it look like reflectance x 10000."""
    rng = np.random.default_rng(1)
    linear = np.concatenate([rng.gamma(1.0, 0.6, 20000), np.full(30, 1000.0)])
    stats = ValueStats.of(linear, "Float32")
    assert stats.p99 > 1.5 and stats.maximum > 255.5  # the case the maximum got wrong
    assert resolve_units("auto", META.sar, stats, "SAR", "SAR_UNITS")[0] == "sar_linear"


def test_units_that_fit_two_accepted_units_are_named_in_a_warning() -> None:
    dark_dn = ValueStats.of(np.arange(10, 240, dtype=np.float64), "UInt16")
    units, _, warns = resolve_units("auto", META.optical, dark_dn)
    assert units == "uint8_rendering" and "reflectance_x10000" in warns[0]


def _dn(offset_dn: float = 0.0) -> ValueStats:
    rng = np.random.default_rng(2)
    return ValueStats.of(rng.integers(50, 3000, 5000) + offset_dn, "UInt16")


def test_the_sentinel2_offset_comes_from_the_product_metadata() -> None:
    from upseg_qgis.core.inputs.product_offset import ProductOffset

    units, how, warns = resolve_units("auto", META.optical, _dn(1000),
                                      offset=ProductOffset(-1000.0, "BOA_ADD_OFFSET"))
    assert units == "reflectance_x10000_offset1000" and "BOA_ADD_OFFSET" in how and not warns
    old = ProductOffset(0.0, "PROCESSING_BASELINE 03.01")
    assert resolve_units("auto", META.optical, _dn(), offset=old)[0] == "reflectance_x10000"
    with pytest.raises(UnitsError, match="offset of -2000"):
        resolve_units("auto", META.optical, _dn(), offset=ProductOffset(-2000.0, "x"))
    # Stated by the user instead, against the metadata: a warning each way.
    assert resolve_units("reflectance_x10000", META.optical, _dn(1000),
                         offset=ProductOffset(-1000.0, "BOA_ADD_OFFSET"))[2]
    assert resolve_units("reflectance_x10000_offset1000", META.optical, _dn(), offset=old)[2]


def test_the_processing_baseline_alone_removes_nothing_and_says_so() -> None:
    from upseg_qgis.core.inputs.product_offset import ProductOffset

    implied = ProductOffset(-1000.0, "PROCESSING_BASELINE 05.10", implied=True)
    units, how, warns = resolve_units("auto", META.optical, _dn(), offset=implied)
    assert units == "reflectance_x10000" and "no offset removed" in how
    assert len(warns) == 1 and "OPTICAL_UNITS" in warns[0] and "05.10" in warns[0]


def test_float_values_like_an_8bit_rendering_warn_as_integers_do() -> None:
    rng = np.random.default_rng(3)
    as_float = ValueStats.of(rng.integers(20, 230, 5000).astype(np.float32), "Float32")
    as_int = ValueStats.of(rng.integers(20, 230, 5000), "UInt16")
    for stats in (as_float, as_int):
        units, _, warns = resolve_units("auto", META.optical, stats)
        assert units == "uint8_rendering" and len(warns) == 1 and "OPTICAL_UNITS" in warns[0]


def test_without_metadata_the_offset_is_a_unit_of_its_own_and_a_hint() -> None:
    units, how, warns = resolve_units("reflectance_x10000_offset1000", META.optical, _dn(1000))
    assert units == "reflectance_x10000_offset1000" and how == "set by the user" and not warns
    units, _, warns = resolve_units("auto", META.optical, _dn(1000))
    assert units == "reflectance_x10000" and "reflectance_x10000_offset1000" in warns[0]
    assert not resolve_units("auto", META.optical, _dn())[2]  # dark pixels below 1000: no hint
    # Its conversion: 1000 off, then the model's own reflectance_x10000 conversion.
    conv = META.optical.conversion_for("reflectance_x10000_offset1000")
    base = META.optical.conversion_for("reflectance_x10000")
    x = np.array([1000.0, 1500.0, 3000.0], np.float32)
    np.testing.assert_allclose(conv.apply(x), base.apply(x - 1000), rtol=1e-6)
    assert "reflectance_x10000_offset1000" not in META.sar.accepted_units


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda ds, b: ds.SetMetadataItem("BOA_ADD_OFFSET", "-1000"), -1000.0),
        (lambda ds, b: b.SetMetadataItem("RADIO_ADD_OFFSET", "-1000"), -1000.0),
        (lambda ds, b: ds.SetMetadataItem("PROCESSING_BASELINE", "05.10"), -1000.0),
        (lambda ds, b: ds.SetMetadataItem("PROCESSING_BASELINE", "02.09"), 0.0),
        (lambda ds, b: b.SetOffset(-1000), -1000.0),
        (lambda ds, b: (b.SetScale(1e-4), b.SetOffset(-0.1)), -1000.0),
        (lambda ds, b: None, None),
    ],
)
def test_product_offset_read_from_metadata(setup, expected) -> None:  # noqa: ANN001
    from upseg_qgis.core.inputs.product_offset import product_offset

    ds = gdal.GetDriverByName("MEM").Create("", 4, 4, 1, gdal.GDT_UInt16)
    setup(ds, ds.GetRasterBand(1))
    found = product_offset(ds, [1])
    assert (found.value if found else None) == pytest.approx(expected)


def test_nodata_is_compared_in_the_band_data_type() -> None:
    from upseg_qgis.core.raster.reading import nodata_hits

    f64 = np.array([0.1, 0.2, 0.1], np.float64)
    assert nodata_hits(f64, 0.1).tolist() == [True, False, True]  # a cast to float32 missed it
    f32 = np.array([0.1, 0.2], np.float32)
    assert nodata_hits(f32, 0.1).tolist() == [True, False]
    u16 = np.array([0, 55537, 9999], np.uint16)
    assert nodata_hits(u16, -9999.0) is None  # cannot occur in UInt16 (and must not wrap)
    assert nodata_hits(np.array([0, 3], np.int16), 0.5) is None
    assert nodata_hits(f32, float("nan")) is None
