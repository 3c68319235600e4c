"""The steps of ``make model`` that train and calibrate (``recipes/default_model.py`` runs them).

The final model is trained with the recipe that grouped cross-validation scored, on every
patch of OMBRIA ``train/`` (``val_scheme: none``), for the same number of epochs, and kept at
its last epoch: what the cross-validation measured is exactly this recipe, on less data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model_export.evaluation.calibration import CalibrationSample, cross_fitted
from model_export.recipes.grouped_cv import load_results, load_spec, run_fold
from model_export.training.config import REPO_ROOT, load_config
from model_export.training.train import run


def _candidate(spec: dict[str, Any], name: str) -> dict[str, Any]:
    for cand in spec["candidates"]:
        if cand["name"] == name:
            return cand
    raise KeyError(f"candidate {name!r} is not in the cross-validation config")


def cross_validate(cv_config: Path, extra: list[str], threads: int | None, skip: bool,
                   ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Run (or reuse) every fold of the default candidate and of ``extra`` candidates."""
    spec = load_spec(cv_config)
    if not skip:
        for name in [spec["default_candidate"], *extra]:
            for fold in range(spec["folds"]):
                run_fold(_candidate(spec, name), spec, fold, threads=threads)
    return spec, load_results(spec)


def train_final(spec: dict[str, Any], name: str, run_dir: Path, threads: int | None,
                ) -> tuple[Path, dict[str, Any]]:
    """(last checkpoint, recipe facts for the card); a finished run is reused."""
    from model_export.training.pretrain import pretrain

    cand = _candidate(spec, name)
    overrides = [*spec.get("overrides", []), *cand.get("overrides", []),
                 "data.options.val_scheme=none", f"output_dir={run_dir}", "progress=false"]
    cfg = load_config(REPO_ROOT / cand["config"], overrides)
    if threads:
        cfg["threads"] = threads
    last = run_dir / "last.pt"
    pre_text = "No self-supervised pretraining (grouped cross-validation did not favour it)."
    if cand.get("pretrain"):
        pre = run_dir / "pretrain.pt"
        if not pre.is_file():
            pretrain(cfg, pre, threads)
        cfg["model"]["init_from"] = str(pre)
        pre_text = ("The encoder was first pretrained self-supervised on the optical + SAR pairs "
                    "before and after each event (`python -m model_export pretrain`).")
    if not _finished(last, int(cfg["train"]["epochs"])):
        run(cfg, resume="auto")
    from model_export.data import build_dataset

    recipe = {"candidate": name, "config": cand["config"], "overrides": overrides,
              "epochs": int(cfg["train"]["epochs"]), "seed": int(cfg["seed"]),
              "train_patches": len(build_dataset(cfg["data"], "train")),
              "permanent_water": cfg["data"].get("options", {}).get("permanent_water", "keep"),
              "pretrain_text": pre_text}
    return last, recipe


def _finished(last: Path, epochs: int) -> bool:
    if not last.is_file():
        return False
    import torch

    return int(torch.load(last, map_location="cpu", weights_only=False)["epoch"]) >= epochs


def temperature_from_cv(spec: dict[str, Any], name: str) -> tuple[float, dict[str, Any]]:
    """Temperature fitted on all out-of-fold logits, and the cross-fitted ECE before / after."""
    parts = []
    for fold in range(spec["folds"]):
        z = np.load(Path(spec["output_dir"]) / name / f"fold{fold}" / "calibration.npz")
        parts.append(CalibrationSample(z["logits"].astype(np.float32),
                                       z["labels"].astype(np.int64)))
    cal = cross_fitted(parts)
    rows = cal["folds"]
    return float(cal["temperature_all_folds"]), {
        "temperature": float(cal["temperature_all_folds"]),
        "pixels": int(sum(len(p.labels) for p in parts)),
        "cv_ece_before": float(np.mean([r["ece_before"] for r in rows])),
        "cv_ece_after": float(np.mean([r["ece_after"] for r in rows])),
        "folds": rows}


def test_scores(checkpoint: Path) -> dict[str, Any]:
    """The checkpoint on the OMBRIA test split: metrics against the published masks and against
    the target masks (pre-event water ignored), and a (logits, labels) pixel sample."""
    from model_export.data.ombria import OmbriaDataset
    from model_export.data.transforms import Normalise
    from model_export.evaluation.fold_eval import evaluate_split
    from model_export.training.checkpoint import load_for_inference

    model, ckpt = load_for_inference(checkpoint)
    scores = evaluate_split(model, OmbriaDataset(None, "test"), Normalise(ckpt["normalisation"]))
    cal = scores["calibration"]
    return {"published": scores["plain"]["published"], "target": scores["plain"]["trained"],
            "tta": scores["tta"]["trained"], "calibration": (cal.logits, cal.labels)}
