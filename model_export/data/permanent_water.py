"""Water that was already there before the flood, found in OMBRIA's pre-event images.

OMBRIA's masks come from Copernicus EMS flood delineations: they mark the *flooded* area, and
mostly leave permanent rivers and lakes out. Measured on the 694 patches: of the pixels that are
dark in the SAR both before and after the event (persistent water), 14 % are inside the mask,
against 88 % of the pixels that turned dark after the event (new water); patches with a river
show it as "not flooded" (e.g. patch 0650). A model that sees only the after-event images cannot
tell a river from flood water, so these pixels are contradictory labels for it.

The rule below finds such pixels conservatively, from evidence on both dates and both sensors:
darker than the patch's 30th percentile in the SAR before *and* after the event (5x5 mean, so
speckle does not decide), water-like in the pre-event optical image (red below 40 and blue not
far below red, in OMBRIA's rendering), outside the flood mask, and at least 3x3 px (an opening).
It flags about 2 % of all pixels. The OMBRIA reader's ``permanent_water`` option decides what
training makes of them: ``"ignore"`` (the ignore index: the model is neither taught that a river
is "not water" nor told that it is flood) or ``"water"`` (water: the product maps all open water,
so a river is water; ``"keep"`` leaves OMBRIA's "not flooded").
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as nnf

DARK_PERCENTILE = 30.0
OPTICAL_RED_MAX = 40.0  # 8-bit red of OMBRIA's rendering; land is 48 at the median, water 15
BLUE_BELOW_RED = 8.0


def _smooth(a: np.ndarray, k: int = 5) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]
    return nnf.avg_pool2d(t, k, 1, k // 2, count_include_pad=False)[0, 0].numpy()


def _open(mask: np.ndarray) -> np.ndarray:
    """Binary opening with a 3x3 square (erode, then dilate)."""
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    eroded = -nnf.max_pool2d(-t, 3, 1, 1)
    return (nnf.max_pool2d(eroded, 3, 1, 1)[0, 0] > 0.5).numpy()


def permanent_water(sar_after: np.ndarray, sar_before: np.ndarray, optical_before: np.ndarray,
                    flood: np.ndarray) -> np.ndarray:
    """Bool [H, W]: likely permanent water outside the flood mask.

    ``sar_*``: [H, W] 8-bit; ``optical_before``: [3, H, W] 8-bit red, green, blue; ``flood``:
    [H, W] bool, the event's flood mask.
    """
    after, before = _smooth(sar_after), _smooth(sar_before)
    dark = (after < np.percentile(after, DARK_PERCENTILE)) & (
        before < np.percentile(before, DARK_PERCENTILE))
    red = optical_before[0].astype(np.float32)
    blue = optical_before[2].astype(np.float32)
    water_like = (_smooth(red) < OPTICAL_RED_MAX) & (blue + BLUE_BELOW_RED >= red)
    return _open(dark & water_like & ~flood.astype(bool))
