"""The toy test model: metadata in the schema's shape, and output predictable in numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.toy_model import build_toy_model, toy_logits, toy_metadata
from upseg_qgis.core.contract.metadata import SCHEMA_PATH
from upseg_qgis.core.contract.parsing import parse_metadata

ROOT = Path(__file__).resolve().parents[1]


def test_toy_metadata_matches_schema_and_parser() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validate(toy_metadata(), schema)
    meta = parse_metadata(toy_metadata())
    assert [c.name for c in meta.classes] == ["not water", "water"]
    assert meta.optical.band_count == 3 and meta.sar.band_count == 1


def test_toy_model_runs_as_predicted(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = build_toy_model(tmp_path / "toy.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert "upseg" in sess.get_modelmeta().custom_metadata_map
    rng = np.random.default_rng(1)
    opt = rng.normal(size=(2, 3, 20, 17)).astype(np.float32)
    sar = rng.normal(size=(2, 1, 20, 17)).astype(np.float32)
    (out,) = sess.run(["logits"], {"optical": opt, "sar": sar})
    for i in range(2):
        np.testing.assert_allclose(out[i], toy_logits(opt[i], sar[i]), rtol=1e-5, atol=1e-5)
