"""Measured scene differences, applied to validation patches as a fixed stress test.

Grouped folds of OMBRIA all share OMBRIA's rendering, while the plugin feeds raw Sentinel data
through fixed conversions whose error ``docs/rendering_check.md`` measures. Scoring each fold
also under these measured shifts tells a recipe that only fits OMBRIA's rendering from one that
survives the conversion error. Deterministic (no randomness), in native 8-bit units, before
normalisation; each value below is a number of that report:

- ``l1c_haze``: the Sen1Floods11 L1C chip's dark level sits 35 / 48 / 58 grey levels (R/G/B)
  above OMBRIA's median block after conversion (top-of-atmosphere haze);
- ``sar_brighter`` / ``sar_darker``: the same dry land is a median 34 levels brighter after the
  event than before, and dry land moves by +-39 levels from block to block;
- ``optical_brighter``: dry-land optical medians range 20-78 across blocks (x 1.3 is well inside).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Shift = Callable[[dict[str, Any]], dict[str, Any]]


def _optical(fn: Callable[[torch.Tensor], torch.Tensor]) -> Shift:
    return lambda s: {**s, "optical": fn(s["optical"]).clamp(0, 255)}


def _sar(fn: Callable[[torch.Tensor], torch.Tensor]) -> Shift:
    return lambda s: {**s, "sar": fn(s["sar"]).clamp(0, 255)}


SHIFTS: dict[str, Shift] = {
    "l1c_haze": _optical(lambda x: x + torch.tensor([35.0, 48.0, 58.0]).view(3, 1, 1)),
    "sar_brighter": _sar(lambda x: x + 34.0),
    "sar_darker": _sar(lambda x: x - 34.0),
    "optical_brighter": _optical(lambda x: x * 1.3),
}
