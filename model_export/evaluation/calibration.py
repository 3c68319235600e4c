"""Confidence that means something: temperature scaling and the expected calibration error.

A segmentation model's softmax is usually over-confident. Temperature scaling (Guo et al.,
"On calibration of modern neural networks", ICML 2017) divides the logits by one scalar T fitted
on held-out data by minimising the negative log-likelihood; the argmax, hence the map, does not
change. ECE: pixels binned by their confidence (max probability), the mean |accuracy -
confidence| of the bins weighted by their size. Works on logits of any number of classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as nnf

ECE_BINS = 15


@dataclass(frozen=True)
class CalibrationSample:
    """Logits [P, K] (float32) and labels [P] (int64) of pixels with a valid label."""

    logits: np.ndarray
    labels: np.ndarray

    @classmethod
    def concat(cls, parts: list[CalibrationSample]) -> CalibrationSample:
        return cls(np.concatenate([p.logits for p in parts]),
                   np.concatenate([p.labels for p in parts]))


def pixel_sample(logits: torch.Tensor, label: torch.Tensor, ignore_index: int = 255,
                 stride: int = 4) -> CalibrationSample:
    """Every ``stride``-th pixel in each direction of a batch [N, K, H, W] with valid labels
    (neighbouring pixels are nearly the same observation; this keeps the sample small)."""
    lg = logits[:, :, ::stride, ::stride].permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
    lab = label[:, ::stride, ::stride].reshape(-1)
    keep = lab != ignore_index
    return CalibrationSample(lg[keep].float().cpu().numpy(), lab[keep].long().cpu().numpy())


def expected_calibration_error(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0,
                               bins: int = ECE_BINS) -> float:
    """ECE of softmax(logits / T) (equal-width confidence bins)."""
    prob = torch.softmax(torch.from_numpy(logits).float() / temperature, dim=1)
    conf, pred = prob.max(dim=1)
    correct = (pred == torch.from_numpy(labels)).float()
    k = prob.shape[1]
    edges = torch.linspace(1.0 / k, 1.0, bins + 1)
    which = torch.bucketize(conf, edges[1:-1])
    ece = torch.zeros(())
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.float().mean() * (correct[sel].mean() - conf[sel].mean()).abs()
    return float(ece)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    return float(nnf.cross_entropy(torch.from_numpy(logits).float() / temperature,
                                   torch.from_numpy(labels)))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05,
                    hi: float = 20.0) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T) (golden-section search on log T;
    the NLL is convex in 1/T, so this finds the optimum without a learning rate)."""
    z = torch.from_numpy(logits).float()
    y = torch.from_numpy(labels)

    def f(log_t: float) -> float:
        return float(nnf.cross_entropy(z / np.exp(log_t), y))

    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return float(np.exp((a + b) / 2))


def cross_fitted(parts: list[CalibrationSample]) -> dict[str, object]:
    """Temperature fitted on all folds but one, ECE measured on the one left out, for every
    fold: an honest before / after, since no pixel is scored by a T fitted on it."""
    rows = []
    for k, held in enumerate(parts):
        rest = CalibrationSample.concat([p for j, p in enumerate(parts) if j != k])
        t = fit_temperature(rest.logits, rest.labels)
        rows.append({"fold": k, "temperature": t,
                     "ece_before": expected_calibration_error(held.logits, held.labels),
                     "ece_after": expected_calibration_error(held.logits, held.labels, t),
                     "nll_before": nll(held.logits, held.labels),
                     "nll_after": nll(held.logits, held.labels, t)})
    pooled = CalibrationSample.concat(parts)
    return {"folds": rows, "temperature_all_folds": fit_temperature(pooled.logits, pooled.labels)}
