"""The embedded default model: loadable, self-describing, calibrated, and as good as its model
card says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import onnx
import pytest

from tests.conftest import ROOT
from upseg_qgis.core.contract.metadata import METADATA_KEY, SCHEMA_PATH
from upseg_qgis.core.contract.parsing import parse_metadata

MODEL = ROOT / "upseg_qgis" / "models" / "upseg_default.onnx"
CARD = MODEL.with_name("MODEL_CARD.md")
# The previous default's water IoU on the OMBRIA test split (ONNX file, published masks): the
# new one must not fall below it (issue 13).
PREVIOUS_TEST_WATER_IOU = 0.669


def _card_row(row_start: str) -> list[str]:
    for line in CARD.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {row_start}"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row '{row_start}' in {CARD}")


def _card_figure(row_start: str) -> float:
    """This model's figure (the last column) in the card's old-vs-new row `row_start`."""
    return float(_card_row(row_start)[-1].split(" ")[0])


def test_default_model_is_small_valid_calibrated_and_self_describing() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    assert MODEL.is_file(), "run `make model` to produce the default model"
    assert MODEL.stat().st_size <= 20_000_000  # the plugin's budget for the shipped file
    proto = onnx.load(str(MODEL))
    onnx.checker.check_model(proto)
    meta_dict = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    jsonschema.validate(meta_dict, json.loads(SCHEMA_PATH.read_text()))
    meta = parse_metadata(meta_dict)
    assert [c.name for c in meta.classes] == ["not water", "water"]
    assert meta.optical.band_count == 3 and meta.sar.band_count == 1
    assert "reflectance_x10000" in meta.optical.accepted_units
    assert "sar_db" in meta.sar.accepted_units
    # Calibrated on held-out folds, with the training inputs' ranges for the plugin's check.
    assert meta.temperature != 1.0 and "fitted_on" in meta_dict["calibration"]
    assert meta.optical.statistics is not None and meta.sar.statistics is not None
    # The ranges come from every patch of OMBRIA train/ (counted from the data here).
    from tests.conftest import require_shared_data

    after_event = list((require_shared_data("ombria") / "train" / "S1").glob("*.png"))
    assert meta.sar.statistics.patches == len(after_event) > 0
    assert meta.training["test_metrics"]["water_iou"] > 0


def test_default_model_water_iou_on_ombria_test_matches_card(shared_data: Path) -> None:
    """ONNX Runtime on the 70 real OMBRIA test patches, prepared by the plugin's own code."""
    from model_export.evaluation.onnx_eval import evaluate_onnx, evaluate_otsu

    got = evaluate_onnx(MODEL, "ombria", "test", str(shared_data))
    assert got["num_samples"] == 70
    card = _card_figure("OMBRIA test, water IoU % (published flood masks; ONNX file)")
    assert abs(100 * got["iou"][1] - card) < 0.15, (got["iou"][1], card)
    assert got["iou"][1] >= PREVIOUS_TEST_WATER_IOU - 0.0005  # rounding of the card's 66.9
    # The card's baseline row is what the Otsu code gives, and the model beats it widely.
    otsu = evaluate_otsu("ombria", "test", str(shared_data))
    assert abs(100 * otsu["iou"][1] - _card_figure("per-patch SAR Otsu, OMBRIA test")) < 0.15
    assert got["iou"][1] - otsu["iou"][1] > 0.10


def test_model_card_compares_old_and_new_and_names_its_limits() -> None:
    text = CARD.read_text(encoding="utf-8")
    for needle in ("grouped CV", "Sen1Floods11", "permanent water", "flood", "make model",
                   "rendering_check", "temperature", "Limits"):
        assert re.search(needle, text), needle
    row = _card_row("grouped CV of the recipe")
    assert "±" in row[1] and "±" in row[2]  # old and new recipe, mean ± sd over folds


def test_model_card_says_what_training_made_of_permanent_water() -> None:
    """'What it maps' follows the shipped model's recipe: pre-event water ignored or water."""
    from model_export.export.model_card import permanent_water_text

    summary = json.loads(MODEL.with_name("default_model_summary.json").read_text())
    text = CARD.read_text(encoding="utf-8")
    assert permanent_water_text(summary["recipe"]) in text
    others = {"ignore", "water"} - {summary["recipe"].get("permanent_water", "ignore")}
    assert not any(permanent_water_text({"permanent_water": o}) in text for o in others)
    assert "flood water and permanent water alike" in text
