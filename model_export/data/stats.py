"""Per-band mean / std of the training split, in native units.

The statistics are computed once from the *training* split (never validation or test), without
augmentation, stored as JSON next to the run and inside the checkpoint (``normalisation`` key), and
carried by the export into the ONNX metadata so that inference normalises exactly like training.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model_export.data.transforms import MODALITIES

Stats = dict[str, dict[str, list[float]]]


class RunningBandStats:
    """Streaming per-band sums in float64 (exact enough for millions of 8-bit or dB pixels)."""

    def __init__(self) -> None:
        self.sum: np.ndarray | None = None
        self.sumsq: np.ndarray | None = None
        self.count: np.ndarray | None = None

    def update(self, x: np.ndarray | torch.Tensor, nodata: float | None = None) -> None:
        a = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        a = a.reshape(a.shape[0], -1).astype(np.float64)  # [C, N]
        valid = np.isfinite(a)
        if nodata is not None:
            valid &= a != nodata
        a = np.where(valid, a, 0.0)
        s, sq, n = a.sum(1), (a * a).sum(1), valid.sum(1)
        if self.sum is None:
            self.sum, self.sumsq, self.count = s, sq, n
        else:
            if s.shape != self.sum.shape:
                raise ValueError(f"band count changed: {s.shape[0]} vs {self.sum.shape[0]}")
            self.sum += s
            self.sumsq += sq
            self.count += n

    def result(self) -> dict[str, list[float]]:
        if self.sum is None or self.count is None or self.sumsq is None:
            raise ValueError("no data seen")
        n = np.maximum(self.count, 1)
        mean = self.sum / n
        var = np.maximum(self.sumsq / n - mean**2, 0.0)
        # A constant band (e.g. the zero SAR of GID) gets std 1 so normalising is a no-op shift.
        std = np.where(var > 1e-12, np.sqrt(var), 1.0)
        return {"mean": mean.tolist(), "std": std.tolist()}


def compute_band_stats(dataset: Iterable[dict[str, Any]] | Any, max_samples: int | None = None,
                       modalities: tuple[str, ...] = MODALITIES,
                       nodata: dict[str, float] | None = None) -> Stats:
    """Mean / std per band of each modality over (the first ``max_samples`` of) ``dataset``.

    ``dataset`` must yield samples in native units (build it without transforms).
    """
    acc = {m: RunningBandStats() for m in modalities}
    n = len(dataset) if max_samples is None else min(len(dataset), max_samples)
    for i in range(n):
        sample = dataset[i]
        for m in modalities:
            acc[m].update(sample[m], (nodata or {}).get(m))
    return {m: a.result() for m, a in acc.items()}


def save_stats(stats: Stats, path: str | os.PathLike[str], **info: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({**stats, "_info": info}, indent=2))


def load_stats(path: str | os.PathLike[str]) -> Stats:
    d = json.loads(Path(path).read_text())
    return {m: {"mean": list(v["mean"]), "std": list(v["std"])} for m, v in d.items()
            if m in MODALITIES}
