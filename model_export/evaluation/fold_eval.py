"""One checkpoint on one OMBRIA split, every number grouped validation needs, in one pass.

Per patch the model runs once plain and, for test-time augmentation (TTA), on the horizontal,
vertical and both flips, whose logits are flipped back and averaged. Each prediction is scored
against two references: OMBRIA's flood mask as published, and the same mask with the pre-event
water of ``permanent_water.py`` ignored (the same for every candidate, whatever its training
labels make of that water). The per-patch SAR Otsu baseline is scored alongside, and a pixel
sample of the plain logits is kept for calibration. Optionally the plain model is also scored
under each measured scene shift of ``scene_shifts.py`` (target masks only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from model_export.data.spec import IGNORE_INDEX
from model_export.evaluation.calibration import CalibrationSample, pixel_sample
from model_export.evaluation.otsu import otsu_water
from upseg_qgis.core.accuracy.metrics import ConfusionMatrix, jsonable

FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-1, -2))


@torch.no_grad()
def tta_logits(model: torch.nn.Module, optical: torch.Tensor, sar: torch.Tensor,
               flips: tuple[tuple[int, ...], ...] = FLIPS) -> list[torch.Tensor]:
    """Logits of each flip, flipped back; ``[0]`` is the plain prediction."""
    out = []
    for dims in flips:
        o, s = (optical.flip(dims), sar.flip(dims)) if dims else (optical, sar)
        lg = model(o, s)
        out.append(lg.flip(dims) if dims else lg)
    return out


def _references(ds: Any, index: int, label: np.ndarray) -> dict[str, np.ndarray]:
    """``published``: the mask as OMBRIA ships it; ``trained``: permanent water ignored."""
    trained = label.copy()
    trained[ds.permanent_water_mask(index) & (label == 0)] = IGNORE_INDEX
    return {"published": label, "trained": trained}


@torch.no_grad()
def shifted_scores(model: torch.nn.Module, ds: Any, normalise: Any,
                   shifts: dict[str, Any]) -> dict[str, Any]:
    """Water IoU metrics (target masks) of the plain model under each shift, and their mean."""
    model.eval()
    names = list(ds.spec.class_names)
    cms = {k: ConfusionMatrix(2, IGNORE_INDEX, names) for k in shifts}
    for i in range(len(ds)):
        raw = ds[i]
        target = _references(ds, i, raw["label"].numpy())["trained"]
        for name, shift in shifts.items():
            x = normalise(shift(raw))
            pred = model(x["optical"][None], x["sar"][None]).argmax(1)[0].numpy()
            cms[name].update(target, pred)
    out: dict[str, Any] = {k: jsonable(cm.compute()) for k, cm in cms.items()}
    out["mean_water_iou"] = float(sum(out[k]["iou"][1] for k in shifts) / len(shifts))
    return out


def evaluate_split(model: torch.nn.Module, ds: Any, normalise: Any,
                   calibration_stride: int = 4) -> dict[str, Any]:
    """Metrics of ``model`` on the OMBRIA dataset ``ds`` (no transform, permanent water kept).

    Returns ``{"plain": {ref: metrics}, "tta": {ref: metrics}, "otsu": {ref: metrics},
    "calibration": CalibrationSample}`` with ref in ``published`` / ``trained``.
    """
    model.eval()
    names = list(ds.spec.class_names)
    cms = {kind: {ref: ConfusionMatrix(2, IGNORE_INDEX, names) for ref in ("published",
                                                                            "trained")}
           for kind in ("plain", "tta", "otsu")}
    samples: list[CalibrationSample] = []
    for i in range(len(ds)):
        raw = ds[i]
        label = raw["label"].numpy()
        refs = _references(ds, i, label)
        x = normalise(raw)
        logits = tta_logits(model, x["optical"][None], x["sar"][None])
        preds = {"plain": logits[0].argmax(1)[0].numpy(),
                 "tta": torch.stack(logits).mean(0).argmax(1)[0].numpy(),
                 "otsu": otsu_water(raw["sar"].numpy())}
        for kind, pred in preds.items():
            for ref, target in refs.items():
                cms[kind][ref].update(target, pred)
        samples.append(pixel_sample(logits[0], torch.from_numpy(refs["trained"])[None],
                                    IGNORE_INDEX, calibration_stride))
    out: dict[str, Any] = {kind: {ref: jsonable(cm.compute()) for ref, cm in by_ref.items()}
                           for kind, by_ref in cms.items()}
    out["calibration"] = CalibrationSample.concat(samples)
    out["num_samples"] = len(ds)
    return out
