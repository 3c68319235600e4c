"""The embedded default model: loadable, self-describing, and as good as its model card says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import onnx
import pytest

from tests.conftest import ROOT
from upseg_qgis.core.metadata import METADATA_KEY, SCHEMA_PATH, parse_metadata

MODEL = ROOT / "upseg_qgis" / "models" / "upseg_default.onnx"
CARD = MODEL.with_name("MODEL_CARD.md")


def _card_figure(row_start: str) -> float:
    """Water IoU (%) of the model card's table row that starts with `row_start`."""
    for line in CARD.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {row_start}"):
            return float(line.split("|")[2])
    raise AssertionError(f"no row '{row_start}' in {CARD}")


def test_default_model_is_small_valid_and_self_describing() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    assert MODEL.is_file(), "run `make model` to produce the default model"
    assert MODEL.stat().st_size < 5_000_000  # shipped in the repository: keep it small
    proto = onnx.load(str(MODEL))
    onnx.checker.check_model(proto)
    meta_dict = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    jsonschema.validate(meta_dict, json.loads(SCHEMA_PATH.read_text()))
    meta = parse_metadata(meta_dict)
    assert [c.name for c in meta.classes] == ["not water", "water"]
    assert meta.optical.band_count == 3 and meta.sar.band_count == 1
    assert "reflectance_x10000" in meta.optical.accepted_units
    assert "sar_db" in meta.sar.accepted_units
    assert meta.training["test_metrics"]["iou"][1] > 0


def test_default_model_water_iou_on_ombria_test_matches_card(shared_data: Path) -> None:
    """ONNX Runtime on the 70 real OMBRIA test patches, prepared by the plugin's own code."""
    from model_export.evaluation.onnx_eval import evaluate_onnx, evaluate_otsu

    got = evaluate_onnx(MODEL, "ombria", "test", str(shared_data))
    card = _card_figure("UPSeg-tiny, this ONNX file")
    assert got["num_samples"] == 70
    assert abs(100 * got["iou"][1] - card) < 0.15, (got["iou"][1], card)
    # The card's baseline row is what the Otsu code gives, and the model beats it widely.
    otsu = evaluate_otsu("ombria", "test", str(shared_data))
    assert abs(100 * otsu["iou"][1] - _card_figure("per-patch Otsu")) < 0.15
    assert got["iou"][1] - otsu["iou"][1] > 0.10


def test_model_card_names_its_limits() -> None:
    text = CARD.read_text(encoding="utf-8")
    for needle in ("undocumented", "reflectance", "dB", "OMBRIA", "make model"):
        assert re.search(needle, text), needle
