"""Temperature scaling and the expected calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from model_export.evaluation.calibration import (
    CalibrationSample,
    cross_fitted,
    expected_calibration_error,
    fit_temperature,
)


def _over_confident(rng: np.random.Generator, n: int, true_t: float) -> CalibrationSample:
    """Labels drawn from softmax(z / true_t): the model's logits z are over-confident by
    true_t, so the temperature that calibrates them is true_t."""
    z = rng.normal(0, 4, (n, 2)).astype(np.float32)
    p1 = 1 / (1 + np.exp(-(z[:, 1] - z[:, 0]) / true_t))
    return CalibrationSample(z, (rng.random(n) < p1).astype(np.int64))


def test_fit_recovers_the_temperature_and_lowers_ece() -> None:
    rng = np.random.default_rng(0)
    s = _over_confident(rng, 20000, 2.5)
    t = fit_temperature(s.logits, s.labels)
    assert t == pytest.approx(2.5, rel=0.08)
    before = expected_calibration_error(s.logits, s.labels)
    after = expected_calibration_error(s.logits, s.labels, t)
    assert before > 0.05 and after < 0.015


def test_perfectly_confident_and_right_has_zero_ece() -> None:
    z = np.array([[10.0, -10.0], [-10.0, 10.0]] * 50, np.float32)
    y = np.array([0, 1] * 50)
    assert expected_calibration_error(z, y) == pytest.approx(0.0, abs=1e-6)


def test_cross_fitting_scores_each_fold_with_a_temperature_from_the_others() -> None:
    rng = np.random.default_rng(1)
    parts = [_over_confident(rng, 4000, 2.0) for _ in range(3)]
    out = cross_fitted(parts)
    assert [r["fold"] for r in out["folds"]] == [0, 1, 2]
    for r in out["folds"]:
        assert r["ece_after"] < r["ece_before"] and r["nll_after"] < r["nll_before"]
        assert r["temperature"] == pytest.approx(2.0, rel=0.15)
