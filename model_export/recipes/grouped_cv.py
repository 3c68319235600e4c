"""``python -m model_export cv --config model_export/configs/grouped_cv.yaml``.

Grouped K-fold cross-validation on OMBRIA's ``train/``: the folds are contiguous runs of whole
spatial blocks (``data/splits.py``), so a fold's validation patches come from places the
model has never seen, the way an analyst's scene does. Every candidate recipe is a training
config; each fold trains it (after self-supervised pretraining on the fold's own training
patches when the candidate says ``pretrain: true``) and scores the **last** epoch, exactly as
the final model is trained (no validation-based epoch picking, which would flatter the
estimate). Per fold: water IoU against OMBRIA's published masks and against the masks with
pre-event water ignored (the training target), test-time augmentation, the SAR Otsu baseline,
a pixel sample for calibration, and the plugin's own pipeline on the Sen1Floods11 chip (its
ONNX export), which is reported and never used to choose anything.

Finished folds are reused (``--force`` retrains); ``--only`` / ``--fold`` split the work between
processes; the report (``docs/validation.md``) is written from the stored results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from model_export.training.train import REPO_ROOT, load_config, run


def fold_config(candidate: dict[str, Any], spec: dict[str, Any], fold: int) -> dict[str, Any]:
    out = Path(spec["output_dir"]) / candidate["name"] / f"fold{fold}"
    overrides = [*spec.get("overrides", []), *candidate.get("overrides", []),
                 "data.options.val_scheme=grouped", f"data.options.folds={spec['folds']}",
                 f"data.options.fold={fold}", f"output_dir={out}", "progress=false"]
    return load_config(REPO_ROOT / candidate["config"], overrides)


def _val_dataset(cfg: dict[str, Any]) -> Any:
    from model_export.data import build_dataset

    data = {**cfg["data"], "options": {**cfg["data"].get("options", {}),
                                       "permanent_water": "keep"}, "max_samples": {}}
    return build_dataset(data, "val")


def chip_check(checkpoint: Path, work: Path) -> dict[str, Any] | None:
    """The plugin's pipeline with this checkpoint's ONNX export on the Sen1Floods11 chip."""
    from model_export.evaluation.chip_check import checkpoint_chip_check

    return checkpoint_chip_check(checkpoint, work, parity_patches=4)


def run_fold(candidate: dict[str, Any], spec: dict[str, Any], fold: int, force: bool = False,
             threads: int | None = None) -> dict[str, Any]:
    from model_export.data.transforms import Normalise
    from model_export.evaluation.fold_eval import evaluate_split
    from model_export.training.checkpoint import load_for_inference
    from model_export.training.pretrain import pretrain

    cfg = fold_config(candidate, spec, fold)
    out = Path(cfg["output_dir"])
    result_path = out / "cv_result.json"
    if result_path.is_file() and not force:
        return add_shifted(json.loads(result_path.read_text()), cfg, result_path)
    if threads:
        cfg["threads"] = threads
    t0 = time.time()
    pre = None
    if candidate.get("pretrain"):
        pre = pretrain(cfg, out / "pretrain.pt", threads)
        cfg["model"]["init_from"] = str(out / "pretrain.pt")
    summary = run(cfg, resume="auto")  # a fold interrupted after training is not retrained
    train_seconds = time.time() - t0
    model, ckpt = load_for_inference(summary["last_checkpoint"])
    ds = _val_dataset(cfg)
    scores = evaluate_split(model, ds, Normalise(ckpt["normalisation"]))
    calib = scores.pop("calibration")
    np.savez_compressed(out / "calibration.npz", logits=calib.logits.astype(np.float16),
                        labels=calib.labels.astype(np.uint8))
    result = {"candidate": candidate["name"], "fold": fold, "val_ids": ds.ids,
              "train_seconds": train_seconds, "epochs": summary["epochs"],
              "best_epoch_on_val": summary["best_epoch"], "scores": scores,
              "pretrain_loss": pre["history"][-1]["loss"] if pre else None,
              "sen1floods11": chip_check(Path(summary["last_checkpoint"]), out)}
    result_path.write_text(json.dumps(result, indent=1))
    return add_shifted(result, cfg, result_path)


def add_shifted(result: dict[str, Any], cfg: dict[str, Any], path: Path) -> dict[str, Any]:
    """Score the fold's last checkpoint under the measured scene shifts, once (stored)."""
    if "shifted" in result["scores"]:
        return result
    from model_export.data.transforms import Normalise
    from model_export.evaluation.fold_eval import shifted_scores
    from model_export.evaluation.scene_shifts import SHIFTS
    from model_export.training.checkpoint import load_for_inference

    model, ckpt = load_for_inference(Path(cfg["output_dir"]) / "last.pt")
    result["scores"]["shifted"] = shifted_scores(model, _val_dataset(cfg),
                                                 Normalise(ckpt["normalisation"]), SHIFTS)
    path.write_text(json.dumps(result, indent=1))
    return result


def load_results(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Stored results per candidate, in fold order (missing folds left out)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for cand in spec["candidates"]:
        rows = []
        for fold in range(int(spec["folds"])):
            path = Path(spec["output_dir"]) / cand["name"] / f"fold{fold}" / "cv_result.json"
            if path.is_file():
                rows.append(json.loads(path.read_text()))
        found[cand["name"]] = rows
    return found


def load_spec(path: str | Path) -> dict[str, Any]:
    spec = yaml.safe_load(Path(path).read_text())
    out = Path(spec.get("output_dir", "runs/grouped_cv"))
    spec["output_dir"] = str(out if out.is_absolute() else REPO_ROOT / out)
    spec["folds"] = int(spec.get("folds", 5))
    return spec


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export cv", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(REPO_ROOT / "model_export/configs/grouped_cv.yaml"))
    p.add_argument("--only", action="append", help="run only this candidate (repeatable)")
    p.add_argument("--fold", type=int, action="append", help="run only this fold (repeatable)")
    p.add_argument("--threads", type=int, help="torch threads per run")
    p.add_argument("--force", action="store_true", help="retrain folds that have results")
    p.add_argument("--report-only", action="store_true", help="only rewrite the report")
    p.add_argument("--rescore-only", action="store_true",
                   help="only add missing scores (scene shifts) to finished folds")
    args = p.parse_args(list(argv) if argv is not None else None)
    spec = load_spec(args.config)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.rescore_only:
        for cand in spec["candidates"]:
            for fold in range(spec["folds"]):
                cfg = fold_config(cand, spec, fold)
                path = Path(cfg["output_dir"]) / "cv_result.json"
                if path.is_file() and (not args.only or cand["name"] in args.only):
                    add_shifted(json.loads(path.read_text()), cfg, path)
    elif not args.report_only:
        for cand in spec["candidates"]:
            if args.only and cand["name"] not in args.only:
                continue
            for fold in range(spec["folds"]):
                if args.fold is None or fold in args.fold:
                    r = run_fold(cand, spec, fold, args.force, args.threads)
                    s = r["scores"]["plain"]["trained"]["iou"][1]
                    print(f"[cv] {cand['name']} fold {fold}: water IoU {s:.4f}", flush=True)
    from model_export.evaluation.cv_report import write_report

    path = write_report(spec, load_results(spec),
                        list(argv) if argv is not None else sys.argv[1:])
    print(f"[cv] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
