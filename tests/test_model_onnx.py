"""Every variant exports to ONNX with dynamic N/H/W and ONNX Runtime matches torch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from model_export.models import build_model, export_onnx, list_models

EXAMPLE_HW = (64, 64)
# Differs from the export example and is not a multiple of 32 (nor the same in H and W).
CHECK_HW = (33, 47)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check(model: torch.nn.Module, path: Path, batch: int, hw: tuple[int, int]) -> float:
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    optical = torch.randn(batch, cfg.in_channels_optical, *hw, generator=g)
    sar = torch.randn(batch, cfg.in_channels_sar, *hw, generator=g)
    with torch.no_grad():
        expected = model(optical, sar).numpy()
    (got,) = _session(path).run(["logits"], {"optical": optical.numpy(), "sar": sar.numpy()})
    assert got.shape == (batch, cfg.num_classes, *hw)
    return float(np.abs(got - expected).max())


# The published DOFA sizes (86-300 M parameters) share their code with upseg_dofa_tiny; exporting
# them here would take minutes and gigabytes (bench/cost_table.py exports small and base).
@pytest.mark.parametrize("name", [n for n in list_models()
                                  if n not in ("upseg_dofa_small", "upseg_dofa_base",
                                               "upseg_dofa_large")])
def test_variant_exports_and_matches_onnxruntime(name: str, tmp_path: Path) -> None:
    model = build_model(name, init_seed=0).eval()
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, path, opset=17, example_hw=EXAMPLE_HW)
    assert not model.training  # mode restored

    proto = onnx.load(str(path), load_external_data=False)
    assert proto.opset_import[0].version >= 17
    graph_in = {i.name: i for i in proto.graph.input}
    assert set(graph_in) >= {"optical", "sar"}  # also the single-modality baselines
    assert [o.name for o in proto.graph.output] == ["logits"]
    for value in [graph_in["optical"], graph_in["sar"], proto.graph.output[0]]:
        dims = value.type.tensor_type.shape.dim
        assert [dims[i].dim_param for i in (0, 2, 3)] == ["batch", "height", "width"]
    assert proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value == model.config.num_classes

    assert _check(model, path, batch=2, hw=CHECK_HW) < 1e-4
    if name == "upseg_tiny":
        assert _check(model, path, batch=1, hw=(100, 75)) < 1e-4
        # The shipped default stays small.
        assert path.stat().st_size < 2 * 2**20


def test_export_with_other_band_counts(tmp_path: Path) -> None:
    model = build_model("upseg_tiny", in_channels_optical=3, in_channels_sar=1, num_classes=2)
    path = tmp_path / "rgb_vv.onnx"
    export_onnx(model.eval(), path, example_hw=(32, 96))
    assert _check(model, path, batch=2, hw=(70, 41)) < 1e-4


@pytest.mark.skipif(
    os.environ.get("UPSEG_TEST_DYNAMO") != "1",
    reason="torch.export path takes ~30-45 s on 2 cores; set UPSEG_TEST_DYNAMO=1",
)
def test_dynamo_exporter_path(tmp_path: Path) -> None:
    model = build_model("upseg_tiny", init_seed=0).eval()
    path = tmp_path / "dynamo.onnx"
    export_onnx(model, path, opset=18, example_hw=EXAMPLE_HW, dynamo=True)
    assert not list(tmp_path.glob("*.data"))  # one self-contained file
    assert _check(model, path, batch=2, hw=CHECK_HW) < 1e-4
