"""Test-time augmentation: the model also sees each tile flipped, and the logits are averaged.

Flipping is exact (no interpolation), so each flipped prediction, flipped back, lies on the same
pixels. Averaging logits rather than class votes keeps the confidence meaningful. It costs one
extra model run per flip (``FLIPS``: 4 runs per tile instead of 1). Pure numpy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RunFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Axes of [N, C, H, W] arrays flipped in each pass; () is the tile as it is.
FLIPS: tuple[tuple[int, ...], ...] = ((), (3,), (2,), (2, 3))
MODES = ("none", "flips")


def runs_per_tile(mode: str) -> int:
    return len(FLIPS) if mode == "flips" else 1


def with_tta(run: RunFn, mode: str) -> RunFn:
    """``run`` itself for ``mode == "none"``; else a function that averages ``run`` over flips."""
    if mode not in MODES:
        raise ValueError(f"test-time augmentation must be one of {MODES}, got {mode!r}")
    if mode == "none":
        return run

    def averaged(optical: np.ndarray, sar: np.ndarray) -> np.ndarray:
        total: np.ndarray | None = None
        for axes in FLIPS:
            if axes:
                o = np.ascontiguousarray(np.flip(optical, axes))
                s = np.ascontiguousarray(np.flip(sar, axes))
                logits = np.flip(run(o, s), axes)
            else:
                logits = run(optical, sar)
            total = logits.astype(np.float32) if total is None else total + logits
        assert total is not None
        return total / np.float32(len(FLIPS))

    return averaged
