"""UPSeg-Galileo through the whole path: trained 1 epoch on SYNTHETIC data (frozen pretrained
encoder), exported to ONNX fp32 and int8 with parity checks, its metadata naming Galileo's bands
and groups, and run unchanged by `upseg:segment` on the real Sen1Floods11 chip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from osgeo import gdal

from model_export.export.onnx_export import export_checkpoint, export_options, onnx_metadata

pytestmark = pytest.mark.usefixtures("torch_one_thread")

WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "models" / "galileo_nano" / "encoder.pt"


@pytest.fixture(scope="module")
def galileo_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not WEIGHTS.is_file():
        pytest.skip(f"published Galileo-nano weights not at {WEIGHTS}")
    from model_export.training.train import main as train_main

    out = tmp_path_factory.mktemp("galileo_run")
    assert train_main(["--config", "model_export/configs/synthetic_smoke.yaml", "--output-dir",
                       str(out), "--set", "train.epochs=1", "--set",
                       "model.name=upseg_galileo_nano", "--no-progress", "--threads", "1"]) == 0
    onnx_path = out / "upseg_galileo.onnx"
    report = export_checkpoint(out / "best.pt", onnx_path, export_options(
        "upseg_galileo_test", "0.0.1", parity_patches=4, int8=True, overlap=16))
    return {"onnx": onnx_path, "report": report}


def test_export_parity_fp32_and_int8(galileo_export: dict[str, Any]) -> None:
    report = galileo_export["report"]
    assert report["parity"]["max_abs_logit_diff"] < 1e-4
    assert report["int8_parity"]["argmax_agreement"] >= 0.98
    assert report["int8_parity"]["quantised_matmuls"] > 0
    assert Path(report["int8_output"]).is_file()


def test_metadata_names_galileo_bands_and_groups(galileo_export: dict[str, Any]) -> None:
    meta = onnx_metadata(galileo_export["onnx"])
    enc = meta["model"]["encoder"]
    assert enc["name"] == "galileo_nano" and enc["input_multiple"] == 8
    # synthetic: blue, green, red, NIR reflectance and VV in dB
    assert enc["galileo_bands"] == {"optical": ["B2", "B3", "B4", "B8"], "sar": ["VV"]}
    assert enc["galileo_groups"] == ["S1", "S2_RGB", "S2_NIR_10m"]
    assert enc["sar_bridge"] == "vh_offset" and enc["weights"]["licence"] == "MIT"
    assert meta["tiling"]["multiple_of"] == 8
    # No tile size given: the encoder's own (attention over a tile's tokens), not the 256 of CNNs.
    assert meta["tiling"]["tile_size"] == 128 and meta["tiling"]["fixed"] is True
    sess = ort.InferenceSession(str(galileo_export["onnx"]), providers=["CPUExecutionProvider"])
    for n, h, w in ((1, 24, 40), (2, 64, 56)):  # dynamic N, H, W (multiples of 8)
        (logits,) = sess.run(["logits"], {"optical": np.zeros((n, 4, h, w), np.float32),
                                          "sar": np.zeros((n, 1, h, w), np.float32)})
        assert logits.shape == (n, 2, h, w)


def test_upseg_segment_runs_the_galileo_model(galileo_export: dict[str, Any],
                                              upseg_provider: Any, shared_data: Path,
                                              tmp_path: Path) -> None:
    import processing

    folder = shared_data / "sen1floods11_sample"
    out = tmp_path / "galileo_map.tif"
    res = processing.run("upseg:segment", {
        "OPTICAL": str(folder / "Spain_7370579_S2Hand.tif"),
        "SAR": str(folder / "Spain_7370579_S1Hand.tif"),
        "MODEL": str(galileo_export["report"]["int8_output"]), "DEVICE": "cpu",
        "TILE_SIZE": 128, "OVERLAP": 16, "OUTPUT": str(out)})
    assert Path(res["OUTPUT"]) == out
    classes = gdal.Open(str(out)).ReadAsArray()
    assert classes.shape == (512, 512)
    assert set(np.unique(classes)) <= {0, 1}


def test_inference_core_segments_a_synthetic_scene(galileo_export: dict[str, Any],
                                                   tmp_path: Path) -> None:
    """The plugin's core, without QGIS, on a SYNTHETIC 100 x 90 scene (not a multiple of the
    patch size): bands matched by name, units from the metadata, tiles of the metadata (which
    a different TILE_SIZE does not change)."""
    from tests.toy_model import write_raster
    from upseg_qgis.core.run.pipeline import TilingOptions, segment

    rng = np.random.default_rng(3)
    water = np.zeros((100, 90), bool)
    water[:, :40] = True  # a synthetic river on the left
    refl = np.where(water, 600, 2500) + rng.normal(0, 100, (4, 100, 90))
    refl[3] = np.where(water, 300, 3500) + rng.normal(0, 100, (100, 90))  # NIR
    vv = np.where(water, -22.0, -9.0) + rng.normal(0, 1.5, (100, 90))
    opt = write_raster(tmp_path / "s2.tif", refl.astype(np.uint16),
                       descriptions=["B2", "B3", "B4", "B8"])
    sar = write_raster(tmp_path / "s1.tif", vv.astype(np.float32), descriptions=["VV"])
    out = tmp_path / "map.tif"
    result = segment(str(opt), str(sar), str(out),
                     model=str(galileo_export["report"]["int8_output"]),
                     tiling=TilingOptions(tile_size=64, overlap=8))
    # Attention across the tile: the metadata says tiling.fixed, so the model's own 128 px
    # tiles (shrunk to this small scene, a multiple of the patch) are used, not the 64 asked.
    assert Path(result.output) == out and result.tile_size == (104, 96)
    assert any("TILE_SIZE 64 and OVERLAP 8 ignored" in w for w in result.warnings)
    assert result.optical_bands == (1, 2, 3, 4)  # B2, B3, B4, B8 found by name
    classes = gdal.Open(str(out)).ReadAsArray()
    assert classes.shape == (100, 90)
    assert set(np.unique(classes)) <= {0, 1}
