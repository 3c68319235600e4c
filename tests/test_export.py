"""Export: a checkpoint becomes one self-describing, parity-checked ONNX file, or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from model_export.export import onnx_export
from model_export.export.onnx_export import export_checkpoint, export_options, onnx_metadata
from model_export.export.parity import ParityError
from upseg_qgis.core.contract.metadata import METADATA_KEY, SCHEMA_PATH
from upseg_qgis.core.contract.parsing import parse_metadata


@pytest.fixture(scope="module")
def synthetic_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny, 1-epoch) training run on SYNTHETIC data, so no real data is needed."""
    from model_export.training.train import main as train_main

    out = tmp_path_factory.mktemp("synthetic_run")
    rc = train_main(["--config", "model_export/configs/synthetic_smoke.yaml", "--output-dir",
                     str(out), "--set", "train.epochs=1", "--no-progress", "--threads", "1"])
    assert rc == 0
    return out / "best.pt"


def test_export_writes_valid_model_with_metadata_and_parity(synthetic_checkpoint, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "m.onnx"
    report = export_checkpoint(synthetic_checkpoint, out, export_options(
        "synthetic_test", "9.9.9", parity_patches=4, fp16=True,
        calibration={"temperature": 1.5, "method": "temperature scaling"}))
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["optical", "sar"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    meta_dict = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    jsonschema.validate(meta_dict, json.loads(SCHEMA_PATH.read_text()))
    meta = parse_metadata(meta_dict)
    assert meta.name == "synthetic_test" and meta.version == "9.9.9"
    assert meta_dict["tiling"]["tile_size"] == 256  # no tile size given: a CNN's default
    assert meta.optical.band_count == proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    assert report["parity"]["max_abs_logit_diff"] < 1e-4
    assert report["parity"]["argmax_agreement"] == 1.0
    assert onnx_metadata(out)["model"]["name"] == "synthetic_test"
    # Calibration and the training inputs' statistics travel in the metadata.
    assert meta.temperature == 1.5
    for spec in (meta.optical, meta.sar):
        assert spec.statistics is not None and spec.statistics.patches >= 1
        assert all(lo <= hi for lo, hi in zip(spec.statistics.median_low,
                                              spec.statistics.median_high, strict=True))

    # Dynamic N/H/W: a batch of 3 at a size that is not a multiple of 32.
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    optical = np.zeros((3, meta.optical.band_count, 45, 70), np.float32)
    sar = np.zeros((3, meta.sar.band_count, 45, 70), np.float32)
    logits = sess.run(["logits"], {"optical": optical, "sar": sar})[0]
    assert logits.shape == (3, meta.num_classes, 45, 70)

    # The fp16 variant keeps float32 inputs/outputs and agrees on classes.
    half = tmp_path / "m_fp16.onnx"
    assert Path(report["fp16_output"]) == half and half.is_file()
    assert report["fp16_parity"]["argmax_agreement"] >= 0.99


def test_failed_parity_leaves_no_output(synthetic_checkpoint, tmp_path, monkeypatch):
    def broken_parity(*args, **kwargs):
        raise ParityError("forced disagreement")

    monkeypatch.setattr(onnx_export, "check_parity", broken_parity)
    out = tmp_path / "never.onnx"
    with pytest.raises(ParityError):
        export_checkpoint(synthetic_checkpoint, out, export_options("x", "1", parity_patches=2))
    assert list(tmp_path.iterdir()) == []


def test_parity_check_detects_a_different_model(synthetic_checkpoint, tmp_path):
    """Parity must compare for real: a model with perturbed weights fails it."""
    import torch

    from model_export.export.parity import check_parity
    from model_export.training.checkpoint import load_for_inference

    out = tmp_path / "m.onnx"
    export_checkpoint(synthetic_checkpoint, out, export_options("x", "1", parity_patches=2))
    model, _ = load_for_inference(str(synthetic_checkpoint))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05)
    sess_inputs = ort.InferenceSession(str(out)).get_inputs()
    batch = tuple(
        np.random.default_rng(i).normal(size=(2, inp.shape[1], 64, 64)).astype(np.float32)
        for i, inp in enumerate(sess_inputs)
    )
    with pytest.raises(ParityError, match="disagree"):
        check_parity(model, str(out), [batch])


def test_patch_statistics_are_percentiles_of_per_patch_median_and_spread():
    import torch

    from model_export.export.input_statistics import patch_statistics

    # Patch k: SAR values 0..99 plus 10 k (median 49.5 + 10 k, interquartile range 49.5).
    samples = [{"optical": torch.zeros(2, 10, 10), "sar": (torch.arange(100.0) + 10 * k)
                .view(1, 10, 10)} for k in range(5)]
    stats = patch_statistics(samples)
    assert stats["sar"]["patches"] == 5
    assert stats["sar"]["median_low"][0] == pytest.approx(49.5 + 0.4)  # 1st percentile of 5
    assert stats["sar"]["median_high"][0] == pytest.approx(49.5 + 39.6)
    assert stats["sar"]["spread_low"] == pytest.approx([49.5])
    assert stats["optical"]["median_high"] == [0.0, 0.0]

