"""Segmentation accuracy from a confusion matrix: pure numpy (no torch, no QGIS).

Shared by the training side (``model_export.evaluation``) and the QGIS plugin's evaluate
algorithm, so both report the same numbers.

Conventions
-----------
* ``cm[i, j]`` counts pixels whose **reference** class is ``i`` and **predicted** class is ``j``.
* Pixels whose reference equals ``ignore_index`` are skipped (and so are NaN/negative references
  when ``strict=False``).
* Per class ``k`` with ``TP = cm[k, k]``, ``R = row sum`` (reference pixels), ``P = column sum``
  (predicted pixels):

  - pixel accuracy (producer's accuracy, recall) ``PA = TP / R``
  - precision (user's accuracy) ``TP / P``
  - ``IoU = TP / (R + P - TP)``, ``F1 = 2 TP / (R + P)``

* Classes absent from the reference: ``PA`` is NaN (undefined). ``IoU`` and ``F1`` are 0 if the
  class was predicted (false positives only) and NaN if it was neither present nor predicted.
  ``mPA``, ``mIoU`` and ``mF1`` are means over the non-NaN classes, so a class that simply does
  not occur in the evaluated area neither helps nor hurts them; they are NaN when every class is.
* ``OA = trace / N``; ``FWIoU = sum_k (R_k / N) IoU_k`` over classes with ``R_k > 0``;
  Cohen's ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_e = sum_k R_k P_k / N**2`` (NaN when
  ``p_e == 1``, e.g. a single class in both maps). Everything is NaN on an empty matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

IGNORE_INDEX = 255


def confusion_matrix(reference: np.ndarray, prediction: np.ndarray, num_classes: int,
                     ignore_index: int | None = IGNORE_INDEX, strict: bool = True) -> np.ndarray:
    """``[K, K]`` int64 confusion matrix of two integer maps of the same shape (bincount).

    ``strict=True`` raises on reference values outside ``0..K-1`` (other than ``ignore_index``)
    and on predictions outside ``0..K-1``; ``strict=False`` drops those pixels instead.
    """
    ref = np.asarray(reference)
    pred = np.asarray(prediction)
    if ref.shape != pred.shape:
        raise ValueError(f"reference {ref.shape} and prediction {pred.shape} differ in shape")
    ref, pred = ref.ravel(), pred.ravel()
    valid = np.ones(ref.shape, bool)
    if np.issubdtype(ref.dtype, np.floating):
        valid &= np.isfinite(ref)
    if ignore_index is not None:
        valid &= ref != ignore_index
    ref_ok = (ref >= 0) & (ref < num_classes)
    pred_ok = (pred >= 0) & (pred < num_classes)
    if strict:
        if np.any(valid & ~ref_ok):
            bad = np.unique(ref[valid & ~ref_ok])[:5]
            raise ValueError(f"reference values {bad.tolist()} outside 0..{num_classes - 1} "
                             f"and not ignore_index={ignore_index}")
        if np.any(valid & ~pred_ok):
            bad = np.unique(pred[valid & ~pred_ok])[:5]
            raise ValueError(f"predicted values {bad.tolist()} outside 0..{num_classes - 1}")
    valid &= ref_ok & pred_ok
    idx = ref[valid].astype(np.int64) * num_classes + pred[valid].astype(np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes,
                                                                         num_classes)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = np.full(np.broadcast(a, b).shape, np.nan)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else math.nan


def metrics_from_confusion(cm: np.ndarray, class_names: Sequence[str] | None = None,
                           ) -> dict[str, Any]:
    """All metrics of a confusion matrix as a dict of floats and per-class lists (see module doc).
    """
    cm = np.asarray(cm, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got {cm.shape}")
    k = cm.shape[0]
    n = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    ref = cm.sum(1).astype(np.float64)
    pred = cm.sum(0).astype(np.float64)
    pa = _div(tp, ref)
    precision = _div(tp, pred)
    iou = _div(tp, ref + pred - tp)
    f1 = _div(2 * tp, ref + pred)
    if n:
        oa = float(tp.sum() / n)
        freq = ref / n
        fwiou = float(np.sum(freq[ref > 0] * iou[ref > 0]))
        pe = float(np.sum(ref * pred) / (float(n) ** 2))
        kappa = (oa - pe) / (1.0 - pe) if pe < 1.0 else math.nan
    else:
        oa = fwiou = kappa = math.nan
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for {k} classes")
    return {
        "num_classes": k,
        "num_pixels": n,
        "class_names": names,
        "oa": oa,
        "mpa": _nanmean(pa),
        "miou": _nanmean(iou),
        "fwiou": fwiou,
        "kappa": float(kappa),
        "mf1": _nanmean(f1),
        "pa": pa.tolist(),
        "precision": precision.tolist(),
        "iou": iou.tolist(),
        "f1": f1.tolist(),
        "support": ref.astype(np.int64).tolist(),
        "predicted": pred.astype(np.int64).tolist(),
        "confusion_matrix": cm.tolist(),
    }


class ConfusionMatrix:
    """Streaming accumulation: ``update`` batch after batch, then ``compute``."""

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX,
                 class_names: Sequence[str] | None = None, strict: bool = True) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = list(class_names) if class_names is not None else None
        self.strict = strict
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, reference: np.ndarray, prediction: np.ndarray) -> ConfusionMatrix:
        self.matrix += confusion_matrix(reference, prediction, self.num_classes,
                                        self.ignore_index, self.strict)
        return self

    def merge(self, other: ConfusionMatrix | np.ndarray) -> ConfusionMatrix:
        self.matrix += other.matrix if isinstance(other, ConfusionMatrix) else np.asarray(other)
        return self

    def reset(self) -> None:
        self.matrix[:] = 0

    def compute(self) -> dict[str, Any]:
        return metrics_from_confusion(self.matrix, self.class_names)


def jsonable(metrics: dict[str, Any]) -> dict[str, Any]:
    """Replace NaN by None (strict JSON has no NaN)."""

    def fix(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {kk: fix(x) for kk, x in v.items()}
        return v

    return fix(metrics)


def _pct(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def metrics_markdown(metrics: dict[str, Any], title: str | None = None) -> str:
    """Markdown tables: summary (in %, kappa as a ratio) and per-class PA / precision / IoU / F1.
    """
    lines = [f"## {title}", ""] if title else []
    kappa = metrics["kappa"]
    kappa_s = "n/a" if kappa is None or math.isnan(kappa) else f"{kappa:.4f}"
    lines += [
        "| OA (%) | mPA (%) | mIoU (%) | FWIoU (%) | mF1 (%) | Kappa | pixels |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {_pct(metrics['oa'])} | {_pct(metrics['mpa'])} | {_pct(metrics['miou'])} | "
        f"{_pct(metrics['fwiou'])} | {_pct(metrics['mf1'])} | {kappa_s} | "
        f"{metrics['num_pixels']} |",
        "",
        "| class | PA (%) | precision (%) | IoU (%) | F1 (%) | reference pixels |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for i, name in enumerate(metrics["class_names"]):
        lines.append(f"| {name} | {_pct(metrics['pa'][i])} | {_pct(metrics['precision'][i])} | "
                     f"{_pct(metrics['iou'][i])} | {_pct(metrics['f1'][i])} | "
                     f"{metrics['support'][i]} |")
    return "\n".join(lines) + "\n"
