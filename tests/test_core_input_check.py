"""`core/inputs/input_check.py` and `core/engine/tta.py`: the unlike-the-training-data warning
and flips."""

from __future__ import annotations

import numpy as np
import pytest

from tests.toy_model import toy_metadata
from upseg_qgis.core.contract.parsing import parse_metadata
from upseg_qgis.core.engine.tta import FLIPS, runs_per_tile, with_tta
from upseg_qgis.core.inputs.input_check import band_checks, unlike_training_warning

# Ranges as measured on OMBRIA train/ (8-bit SAR: patch medians 71-215, spreads 17-125).
SAR_STATS = {"patches": 624, "median_low": [71.0], "median_high": [215.0], "spread_low": [17.0],
             "spread_high": [125.0]}


def _sar_spec(with_stats: bool = True):
    data = toy_metadata()
    if with_stats:
        data["inputs"]["sar"]["statistics"] = dict(SAR_STATS)
    return parse_metadata(data).sar


def _db_scene(rng: np.random.Generator) -> np.ndarray:
    """A flood scene in dB: land around -10, a third water around -20, speckle."""
    db = np.where(rng.random((1, 64, 64)) < 0.3, -20.0, -10.0)
    return (db + rng.normal(0, 2.5, db.shape)).astype(np.float32)


def test_quiet_on_a_scene_in_the_right_units():
    rng = np.random.default_rng(0)
    assert unlike_training_warning(_sar_spec(), _db_scene(rng), "sar_db", "SAR",
                                   "SAR_UNITS") is None


@pytest.mark.parametrize("wrong", ["linear_as_db", "decibel_x10"])
def test_fires_on_a_layer_in_the_wrong_units(wrong):
    rng = np.random.default_rng(1)
    db = _db_scene(rng)
    # Linear power declared as dB: every value lands near 234 with no spread; dB x 10 (a
    # common integer encoding) declared as dB: everything clips to 0.
    raw = 10 ** (db / 10) if wrong == "linear_as_db" else db * 10
    msg = unlike_training_warning(_sar_spec(), raw, "sar_db", "SAR", "SAR_UNITS")
    assert msg is not None
    assert msg.startswith("The SAR values look unlike the training data: check SAR_UNITS")
    assert "Sentinel-1 VV" in msg and "training 71" in msg  # names the band and the range


def test_no_statistics_no_check():
    rng = np.random.default_rng(2)
    raw = 10 ** (_db_scene(rng) / 10)
    assert band_checks(_sar_spec(with_stats=False), raw, "sar_db") == []


def test_nan_is_missing_not_a_value():
    rng = np.random.default_rng(3)
    raw = _db_scene(rng)
    raw[:, :40] = np.nan  # most of the layer is nodata; the rest is a normal scene
    checks = band_checks(_sar_spec(), raw, "sar_db")
    assert len(checks) == 1 and not checks[0].unlike


def test_tta_averages_flipped_logits_back_on_the_same_pixels():
    calls = []

    def run(optical: np.ndarray, sar: np.ndarray) -> np.ndarray:
        calls.append(optical.copy())
        # Logits that depend on position: a flipped input must be flipped back to match.
        return np.concatenate([optical[:, :1] * 2.0, sar], axis=1)

    rng = np.random.default_rng(4)
    opt = rng.random((2, 3, 8, 6), dtype=np.float32)
    sar = rng.random((2, 1, 8, 6), dtype=np.float32)
    out = with_tta(run, "flips")(opt, sar)
    # A flip-equivariant model gives exactly its plain output back.
    np.testing.assert_allclose(out, run(opt, sar), rtol=1e-6)
    assert len(calls) == len(FLIPS) + 1 == runs_per_tile("flips") + 1
    assert any(not np.array_equal(c, opt) for c in calls[:4])  # it did see flipped tiles
    assert with_tta(run, "none") is run
    with pytest.raises(ValueError, match="one of"):
        with_tta(run, "rotations")
