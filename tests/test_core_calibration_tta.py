"""The pipeline's use of the model's calibration and training statistics, and its TTA option:
on the real Sen1Floods11 chip with the toy model (whose output numpy can predict)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from tests.toy_model import build_toy_model, toy_metadata, write_raster
from upseg_qgis.core.contract.parsing import parse_metadata
from upseg_qgis.core.run.options import InputOptions, RuntimeOptions
from upseg_qgis.core.run.pipeline import Reporter, segment

# OMBRIA's training ranges (8-bit), as the default model's export measures them.
STATS = {
    "optical": {"patches": 624, "median_low": [2.0, 8.0, 8.0],
                "median_high": [105.0, 121.0, 112.0], "spread_low": [2.0, 2.0, 3.0],
                "spread_high": [93.0, 103.0, 120.0]},
    "sar": {"patches": 624, "median_low": [71.0], "median_high": [215.0], "spread_low": [17.0],
            "spread_high": [125.0]},
}
UNLIKE = "The SAR values look unlike the training data: check SAR_UNITS"
CPU = RuntimeOptions(device="cpu")


def _model(tmp_path: Path, temperature: float | None = None) -> Path:
    meta = toy_metadata()
    for m in ("optical", "sar"):
        meta["inputs"][m]["statistics"] = STATS[m]
    if temperature:
        meta["calibration"] = {"temperature": temperature}
    return build_toy_model(tmp_path / f"toy_{temperature}.onnx", meta)


def _chip(shared_data: Path) -> tuple[str, str]:
    d = shared_data / "sen1floods11_sample"
    return str(d / "Spain_7370579_S2Hand.tif"), str(d / "Spain_7370579_S1Hand.tif")


def _unlike(report: Reporter) -> list[str]:
    return [w for w in report.warnings if "unlike the training data" in w]


def test_unlike_training_warning_fires_on_wrong_units_only(shared_data: Path,
                                                           tmp_path: Path) -> None:
    s2, s1 = _chip(shared_data)
    model = str(_model(tmp_path))
    quiet = Reporter()
    segment(s2, s1, str(tmp_path / "ok.tif"), model=model, runtime=CPU, report=quiet)
    assert _unlike(quiet) == []  # the sample looks like the training data

    # The same SAR stored as dB x 10 (a common integer-style encoding), declared as dB: the
    # plain units check has nothing to say (no unit fits), the training statistics do.
    ds = gdal.Open(s1)
    deci = write_raster(tmp_path / "s1_decidb.tif", ds.ReadAsArray().astype(np.float32) * 10,
                        ds.GetGeoTransform(), 4326, descriptions=["VV", "VH"])
    loud = Reporter()
    segment(s2, str(deci), str(tmp_path / "wrong.tif"), model=model, runtime=CPU,
            inputs=InputOptions(sar_units="sar_db"), report=loud)
    (msg,) = _unlike(loud)
    assert msg.startswith(UNLIKE) and "Sentinel-1 VV" in msg


def test_confidence_uses_the_model_temperature(shared_data: Path, tmp_path: Path) -> None:
    s2, s1 = _chip(shared_data)
    confs = {}
    for t in (None, 2.0):
        r = segment(s2, s1, str(tmp_path / f"c{t}.tif"), model=str(_model(tmp_path, t)),
                    runtime=CPU, confidence=str(tmp_path / f"conf{t}.tif"))
        confs[t] = gdal.Open(r.confidence).ReadAsArray()
    ok = confs[None] >= 0
    # Max softmax of two classes from logit difference d: 1 / (1 + exp(-|d| / T)).
    d = np.log(confs[None][ok] / (1 - np.minimum(confs[None][ok], 1 - 1e-7)))
    np.testing.assert_allclose(confs[2.0][ok], 1 / (1 + np.exp(-d / 2.0)), atol=2e-4)
    assert (confs[2.0][ok] <= confs[None][ok] + 1e-6).all()  # softer, never sharper


def test_tta_on_a_flip_equivariant_model_changes_nothing_but_runs_four_times(
        shared_data: Path, tmp_path: Path) -> None:
    s2, s1 = _chip(shared_data)
    model = str(build_toy_model(tmp_path / "toy.onnx"))  # 1x1 conv: equivariant to flips
    plain = segment(s2, s1, str(tmp_path / "p.tif"), model=model, runtime=CPU)
    info: list[str] = []
    tta = segment(s2, s1, str(tmp_path / "t.tif"), model=model,
                  runtime=RuntimeOptions(device="cpu", tta="flips"),
                  report=Reporter(info=info.append))
    np.testing.assert_array_equal(gdal.Open(plain.output).ReadAsArray(),
                                  gdal.Open(tta.output).ReadAsArray())
    assert any("4 model runs per tile" in m for m in info)
    assert parse_metadata(toy_metadata()).temperature == 1.0  # no calibration stored
    with pytest.raises(ValueError, match="tta must be one of"):
        RuntimeOptions(tta="rot90")
