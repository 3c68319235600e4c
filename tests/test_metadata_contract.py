"""The `upseg` metadata contract: parsing, validation, and the exact input preparation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.toy_model import toy_metadata
from upseg_qgis.core.contract.metadata import SCHEMA_PATH, BandInfo, MetadataError
from upseg_qgis.core.contract.parsing import metadata_from_props, parse_metadata


def test_example_parses_and_matches_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = toy_metadata()
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    meta = parse_metadata(json.dumps(data))
    assert meta.num_classes == 2
    assert [c.name for c in meta.classes] == ["not water", "water"]
    assert meta.classes[1].rgb == (0x1F, 0x78, 0xB4)
    assert meta.optical.band_count == 3 and meta.sar.band_count == 1
    assert meta.sar.accepted_units == ("uint8_rendering", "sar_db", "sar_linear")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("classes"), "'classes' is missing"),
        (lambda d: d["classes"][0].update(colour="blue"), "#rrggbb"),
        (lambda d: d["inputs"].pop("sar"), "'inputs.sar' is missing"),
        (lambda d: d["inputs"]["optical"]["normalisation"].update(std=[1, 0, 1]), "> 0"),
        (lambda d: d["inputs"]["optical"]["normalisation"].update(mean=[1, 2]), "one value per"),
        (lambda d: d["inputs"]["sar"].update(units="furlongs"), "not one of"),
        (lambda d: d.update(nodata_value=1), "nodata_value"),
        (lambda d: d["tiling"].update(overlap=40), "less than half"),
        (lambda d: d.update(calibration={"temperature": 0.0}), "must be > 0"),
        (lambda d: d["inputs"]["sar"].update(statistics={**_STATS_1, "median_low": [1, 2]}),
         "one value per"),
    ],
)
def test_invalid_metadata_is_rejected_by_parser_and_schema(mutate, fragment) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = toy_metadata()
    mutate(data)
    with pytest.raises(MetadataError, match=fragment.replace("(", r"\(")):
        parse_metadata(data)
    schema = json.loads(SCHEMA_PATH.read_text())
    # The schema cannot express cross-field rules (nodata vs class values, overlap vs tile,
    # list lengths); for all others it must agree with the parser.
    if fragment not in {"nodata_value", "less than half", "one value per"}:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, schema)


_STATS_1 = {"patches": 10, "median_low": [70.0], "median_high": [215.0], "spread_low": [17.0],
            "spread_high": [125.0]}


def test_calibration_and_training_statistics_are_optional_and_parsed() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    plain = parse_metadata(toy_metadata())
    # Models exported before these fields existed keep working: no temperature, no statistics.
    assert plain.temperature == 1.0 and plain.sar.statistics is None
    data = toy_metadata()
    data["calibration"] = {"temperature": 1.7, "method": "temperature scaling"}
    data["inputs"]["sar"]["statistics"] = dict(_STATS_1)
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    meta = parse_metadata(data)
    assert meta.temperature == 1.7
    assert meta.sar.statistics is not None and meta.sar.statistics.median_high == (215.0,)
    assert meta.optical.statistics is None


def test_unknown_schema_version_says_what_to_do() -> None:
    data = toy_metadata()
    data["schema_version"] = 99
    with pytest.raises(MetadataError, match="schema version 99.*Update the UPSeg plugin"):
        parse_metadata(data)


def test_file_without_key_says_how_to_export() -> None:
    with pytest.raises(MetadataError, match="python -m model_export export"):
        metadata_from_props({"producer": "something else"}, source="foreign.onnx")
    with pytest.raises(MetadataError, match="not valid JSON"):
        metadata_from_props({"upseg": "{not json"})


def test_prepare_converts_units_clips_and_normalises_exactly() -> None:
    meta = parse_metadata(toy_metadata())
    # Sentinel-2 digital numbers: 1000 -> 0.1 reflectance -> 63.75 in the 8-bit rendering.
    raw = np.full((3, 2, 2), 1000, dtype=np.int16)
    raw[0, 0, 0] = 9000  # 573.75 -> clipped to 255
    out = meta.optical.prepare(raw, "reflectance_x10000")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[1, 0, 0], (63.75 - 100.0) / 50.0, rtol=1e-6)
    np.testing.assert_allclose(out[0, 0, 0], (255.0 - 100.0) / 50.0, rtol=1e-6)

    # SAR in dB: -20 dB -> 6.636 * -20 + 233.7 = 100.98; linear power 0.01 is -20 dB as well.
    db = np.array([[[-20.0, np.nan]]], dtype=np.float32)
    lin = np.array([[[0.01, 0.0]]], dtype=np.float32)
    a = meta.sar.prepare(db, "sar_db")
    b = meta.sar.prepare(lin, "sar_linear")
    np.testing.assert_allclose(a[0, 0, 0], (100.98 - 140.0) / 40.0, rtol=1e-5)
    np.testing.assert_allclose(b[0, 0, 0], a[0, 0, 0], rtol=1e-5)
    assert np.isnan(a[0, 0, 1]) and np.isnan(b[0, 0, 1])  # missing stays missing


def test_prepare_rejects_wrong_band_count_and_units() -> None:
    meta = parse_metadata(toy_metadata())
    with pytest.raises(MetadataError, match="needs 3 bands"):
        meta.optical.prepare(np.zeros((4, 2, 2), np.float32), "uint8_rendering")
    with pytest.raises(MetadataError, match="accepts units"):
        meta.optical.prepare(np.zeros((3, 2, 2), np.float32), "sar_db")


@pytest.mark.parametrize(
    ("label", "expected"),
    [("B04", True), ("b4", True), ("red", True), ("B40", False), ("B8A", False)],
)
def test_band_alias_matching(label: str, expected: bool) -> None:
    band = BandInfo(name="red", description="S2 B4 red", aliases=("B4",))
    assert band.matches(label) is expected
