"""Per-patch Otsu threshold on SAR: the classical water-mapping baseline the model must beat.

Water is dark in SAR (specular reflection away from the sensor), so each patch is split at the
Otsu threshold of its own histogram and the darker side is called water. numpy only.
"""

from __future__ import annotations

import numpy as np


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that maximises the between-class variance of `values` (NaN ignored)."""
    v = values[np.isfinite(values)].ravel()
    if v.size == 0:
        raise ValueError("no finite values to threshold")
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return lo
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mean0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mean1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    between = w0 * w1 * (mean0 - mean1) ** 2
    # Split after bin k: everything <= edges[k + 1] is the dark class.
    return float(edges[int(np.argmax(between)) + 1])


def otsu_water(sar: np.ndarray) -> np.ndarray:
    """Binary water map (1 = water) of one SAR patch [H, W] or [1, H, W]."""
    band = sar[0] if sar.ndim == 3 else sar
    return (band <= otsu_threshold(band)).astype(np.int64)
