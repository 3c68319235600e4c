"""UPSeg-DOFA through the whole path: trained (1 epoch, synthetic data), exported to ONNX with
float16 and int8 variants, each parity-checked, and run by `upseg:segment` on a real chip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from osgeo import gdal

from model_export.export.onnx_export import export_checkpoint, export_options, onnx_metadata

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def dofa_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from model_export.training.train import main as train_main

    out = tmp_path_factory.mktemp("dofa_run")
    assert train_main(["--config", "model_export/configs/synthetic_smoke.yaml", "--output-dir",
                       str(out), "--set", "train.epochs=1", "--set", "model.name=upseg_dofa_tiny",
                       "--no-progress", "--threads", "1"]) == 0
    onnx_path = out / "upseg_dofa.onnx"
    report = export_checkpoint(out / "best.pt", onnx_path, export_options(
        "upseg_dofa_test", "0.0.1", parity_patches=4, fp16=True, int8=True))
    return {"onnx": onnx_path, "report": report}


def test_export_parity_for_fp32_fp16_and_int8(dofa_export: dict[str, Any]) -> None:
    report = dofa_export["report"]
    assert report["parity"]["max_abs_logit_diff"] < 1e-4  # float32: within 1e-4 of torch
    assert report["fp16_parity"]["argmax_agreement"] >= 0.99
    assert report["int8_parity"]["argmax_agreement"] >= 0.98
    assert report["int8_parity"]["quantised_matmuls"] > 0  # really quantised
    for key in ("fp16_output", "int8_output"):
        assert Path(report[key]).is_file()


def test_graph_is_dynamic_and_wavelengths_fixed(dofa_export: dict[str, Any]) -> None:
    meta = onnx_metadata(dofa_export["onnx"])
    enc = meta["model"]["encoder"]
    assert enc["name"] == "dofa" and enc["input_multiple"] == 16
    assert enc["wavelengths_um"] == {"optical": [0.49, 0.56, 0.665, 0.842], "sar": [3.75]}
    assert meta["tiling"]["multiple_of"] == 16
    for path in (dofa_export["onnx"], dofa_export["report"]["int8_output"]):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for n, h, w in ((1, 32, 48), (3, 80, 64)):
            (logits,) = sess.run(["logits"], {
                "optical": np.zeros((n, 4, h, w), np.float32),
                "sar": np.zeros((n, 1, h, w), np.float32)})
            assert logits.shape == (n, 2, h, w)  # synthetic_smoke: water / not water


def test_upseg_segment_runs_the_dofa_model(dofa_export: dict[str, Any], upseg_provider: Any,
                                           shared_data: Path, tmp_path: Path) -> None:
    """The plugin runs it through the same metadata contract: band matching by name, units,
    normalisation and tiling (multiple of 16) all come from the file's metadata."""
    import processing

    folder = shared_data / "sen1floods11_sample"
    out = tmp_path / "dofa_map.tif"
    res = processing.run("upseg:segment", {
        "OPTICAL": str(folder / "Spain_7370579_S2Hand.tif"),
        "SAR": str(folder / "Spain_7370579_S1Hand.tif"),
        "MODEL": str(dofa_export["report"]["int8_output"]), "DEVICE": "cpu",
        "TILE_SIZE": 128, "OVERLAP": 16, "OUTPUT": str(out)})
    assert Path(res["OUTPUT"]) == out
    classes = gdal.Open(str(out)).ReadAsArray()
    assert classes.shape == (512, 512)
    assert set(np.unique(classes)) <= {0, 1}
