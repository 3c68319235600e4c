"""Losses for imbalanced land-cover / water segmentation, all honouring the ignore index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as nnf

from model_export.data.spec import IGNORE_INDEX


class DiceLoss(nn.Module):
    """Soft multi-class Dice, ``1 - mean_k 2|P_k ∩ Y_k| / (|P_k| + |Y_k|)`` on valid pixels.

    Dice is insensitive to class frequency, which complements weighted cross-entropy on rare
    classes (e.g. water in dry scenes). Classes absent from both prediction and batch count as
    perfect (the ``smooth`` term), so they do not dominate the loss.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, smooth: float = 1.0) -> None:
        super().__init__()
        self.ignore_index, self.smooth = ignore_index, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        k = logits.shape[1]
        valid = (target != self.ignore_index).unsqueeze(1)
        probs = logits.float().softmax(1) * valid
        onehot = nnf.one_hot(target.clamp(0, k - 1), k).permute(0, 3, 1, 2) * valid
        dims = (0, 2, 3)
        inter = (probs * onehot).sum(dims)
        denom = probs.sum(dims) + onehot.sum(dims)
        return 1.0 - ((2 * inter + self.smooth) / (denom + self.smooth)).mean()


class CEDiceLoss(nn.Module):
    """``ce_weight * CE(class weights) + dice_weight * Dice``."""

    def __init__(self, class_weights: torch.Tensor | None = None, ce_weight: float = 1.0,
                 dice_weight: float = 1.0, ignore_index: int = IGNORE_INDEX,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.ce = nn.CrossEntropyLoss(weight=class_weights, ignore_index=ignore_index,
                                      label_smoothing=label_smoothing)
        self.dice = DiceLoss(ignore_index)
        self.ce_weight, self.dice_weight = ce_weight, dice_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = logits.new_zeros((), dtype=torch.float32)
        if self.ce_weight:
            loss = loss + self.ce_weight * self.ce(logits.float(), target)
        if self.dice_weight:
            loss = loss + self.dice_weight * self.dice(logits, target)
        return loss


def class_frequencies(dataset: Any, num_classes: int, ignore_index: int = IGNORE_INDEX,
                      max_samples: int | None = None) -> np.ndarray:
    """Pixel count per class over (the first ``max_samples`` of) a dataset without transforms."""
    counts = np.zeros(num_classes, np.int64)
    n = len(dataset) if max_samples is None else min(len(dataset), max_samples)
    for i in range(n):
        lab = dataset[i]["label"].numpy().ravel()
        lab = lab[(lab != ignore_index) & (lab >= 0) & (lab < num_classes)]
        counts += np.bincount(lab, minlength=num_classes)
    return counts


def class_weights_from_counts(counts: Sequence[int] | np.ndarray, method: str = "inverse_sqrt",
                              max_weight: float = 10.0) -> list[float]:
    """Class weights normalised to mean 1 over the present classes.

    ``inverse_sqrt``: ``w_k ∝ 1/sqrt(f_k)`` (milder than inverse frequency, stable with rare
    classes); ``inverse``: ``w_k ∝ 1/f_k``; ``median``: median-frequency balancing. Absent classes
    get weight 0 (they have no pixels anyway); weights are clipped to ``max_weight``.
    """
    c = np.asarray(counts, np.float64)
    present = c > 0
    if not present.any():
        return [1.0] * len(c)
    f = np.where(present, c / c.sum(), 1.0)
    if method == "inverse_sqrt":
        w = 1.0 / np.sqrt(f)
    elif method == "inverse":
        w = 1.0 / f
    elif method == "median":
        w = np.median(f[present]) / f
    else:
        raise ValueError(f"unknown class weight method {method!r}")
    w = np.where(present, w, 0.0)
    w = w / w[present].mean()
    return np.minimum(w, max_weight).tolist()


def build_loss(cfg: dict[str, Any], class_weights: Sequence[float] | None,
               ignore_index: int = IGNORE_INDEX) -> nn.Module:
    """From ``train.loss``: ``ce``, ``dice`` or ``ce_dice`` (default)."""
    name = cfg.get("loss", "ce_dice")
    w = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
    ls = float(cfg.get("label_smoothing", 0.0))
    if name == "ce":
        return CEDiceLoss(w, 1.0, 0.0, ignore_index, ls)
    if name == "dice":
        return CEDiceLoss(None, 0.0, 1.0, ignore_index)
    if name == "ce_dice":
        return CEDiceLoss(w, 1.0, float(cfg.get("dice_weight", 1.0)), ignore_index, ls)
    raise ValueError(f"unknown loss {name!r}: use ce, dice or ce_dice")
