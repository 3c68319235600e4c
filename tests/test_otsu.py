"""The Otsu baseline finds the valley of a two-mode histogram."""

from __future__ import annotations

import numpy as np

from model_export.evaluation.otsu import otsu_threshold, otsu_water


def test_threshold_separates_two_modes() -> None:
    rng = np.random.default_rng(0)
    dark = rng.normal(60, 8, 4000)
    bright = rng.normal(170, 10, 6000)
    t = otsu_threshold(np.concatenate([dark, bright]))
    # Any cut in the empty valley is optimal; it must misclassify almost nothing.
    errors = (dark > t).sum() + (bright <= t).sum()
    assert 75 < t < 150 and errors < 10


def test_water_is_the_dark_side() -> None:
    sar = np.full((1, 8, 8), 200.0)
    sar[0, :3] = 40.0
    water = otsu_water(sar)
    assert water[:3].all() and not water[3:].any()
