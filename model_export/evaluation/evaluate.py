"""``python -m model_export evaluate --checkpoint runs/x/best.pt --split test``.

Confusion matrix, OA, per-class pixel accuracy, mPA, per-class IoU, mIoU, FWIoU, Kappa and F1 with
the ignore index (definitions in ``upseg_qgis.core.accuracy.metrics``, shared with the QGIS plugin),
written as JSON, a markdown table and a confusion-matrix PNG. The data split, its normalisation and
the class names come from the checkpoint, so evaluation sees the data exactly as validation did.

:func:`evaluate_model` is the reusable part (the export engineer calls it for parity checks).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as nnf

from upseg_qgis.core.accuracy.metrics import ConfusionMatrix, jsonable, metrics_markdown

Batch = dict[str, Any] | Sequence[torch.Tensor]


def _unpack(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if isinstance(batch, dict):
        return batch["optical"], batch["sar"], batch["label"]
    optical, sar, label = batch[:3]
    return optical, sar, label


@torch.no_grad()
def evaluate_model(model: nn.Module, loader: Iterable[Batch], num_classes: int,
                   ignore_index: int = 255, device: str | torch.device = "cpu",
                   class_names: Sequence[str] | None = None, criterion: nn.Module | None = None,
                   amp: bool = False, distributed: bool = False) -> dict[str, Any]:
    """Metrics of ``model`` over ``loader`` (batches as dicts or ``(optical, sar, label)``).

    Inputs must already be normalised as in training (the dataset transforms do it). Returns the
    dict of :func:`upseg_qgis.core.accuracy.metrics.metrics_from_confusion` plus ``loss`` (mean per
    sample, NaN without ``criterion``), ``num_samples`` and ``seconds``. With
    ``distributed=True`` the confusion matrices (and losses) of all processes are summed.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    cm = ConfusionMatrix(num_classes, ignore_index, class_names)
    loss_sum, n_samples = 0.0, 0
    t0 = time.perf_counter()
    for batch in loader:
        optical, sar, label = _unpack(batch)
        optical, sar = optical.to(device), sar.to(device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp and
                            device.type == "cuda"):
            logits = model(optical, sar)
        logits = logits.float()
        if logits.shape[-2:] != label.shape[-2:]:
            logits = nnf.interpolate(logits, size=label.shape[-2:], mode="bilinear",
                                     align_corners=False)
        if criterion is not None:
            loss_sum += float(criterion(logits, label.to(device))) * optical.shape[0]
        cm.update(label.numpy(), logits.argmax(1).cpu().numpy())
        n_samples += optical.shape[0]
    if distributed and torch.distributed.is_initialized():
        mat = torch.from_numpy(cm.matrix)
        torch.distributed.all_reduce(mat)
        cm.matrix = mat.numpy()
        tot = torch.tensor([loss_sum, float(n_samples)], dtype=torch.float64)
        torch.distributed.all_reduce(tot)
        loss_sum, n_samples = float(tot[0]), int(tot[1])
    if was_training:
        model.train()
    out = cm.compute()
    out["loss"] = loss_sum / n_samples if criterion is not None and n_samples else math.nan
    out["num_samples"] = n_samples
    out["seconds"] = time.perf_counter() - t0
    return out


def select_metric(metrics: dict[str, Any], key: str) -> float:
    """A scalar from a metrics dict: ``miou``, ``mpa``, ``oa``..., or ``iou:water`` / ``f1:2``."""
    if ":" in key:
        kind, cls = key.split(":", 1)
        names = [n.lower() for n in metrics["class_names"]]
        idx = int(cls) if cls.isdigit() else names.index(cls.lower().replace("_", " "))
        v = metrics[kind][idx]
    else:
        v = metrics[key]
    return math.nan if v is None else float(v)


def plot_confusion(metrics: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Row-normalised confusion matrix (reference rows) with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(metrics["confusion_matrix"], dtype=np.float64)
    names = metrics["class_names"]
    k = len(names)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = max(4.0, 0.6 * k + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    if k <= 16:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center",
                        fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of reference class")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_checkpoint(checkpoint: str | Path, split: str = "test",
                        data_overrides: dict[str, Any] | None = None,
                        device: str | torch.device = "cpu", batch_size: int | None = None,
                        num_workers: int = 0) -> dict[str, Any]:
    """Build the split the checkpoint's config describes and evaluate the model on it."""
    from torch.utils.data import DataLoader

    from model_export.data import build_dataset
    from model_export.data.spec import DatasetSpec
    from model_export.data.transforms import build_transforms
    from model_export.training.checkpoint import load_for_inference
    from model_export.training.config import deep_merge

    model, ckpt = load_for_inference(checkpoint, device)
    dcfg = deep_merge(ckpt["config"]["data"], data_overrides or {})
    spec = DatasetSpec.from_dict(ckpt["dataset"])
    ds = build_dataset(dcfg, split)
    ds.transform = build_transforms(None, spec, ckpt["normalisation"], train=False)
    loader = DataLoader(ds, batch_size=batch_size or int(dcfg.get("eval_batch_size", 8)),
                        num_workers=num_workers)
    metrics = evaluate_model(model, loader, spec.num_classes, spec.ignore_index, device,
                             class_names=spec.class_names)
    metrics.update(checkpoint=str(checkpoint), split=split, dataset=spec.name,
                   model_name=ckpt["model_name"], epoch=ckpt["epoch"])
    return metrics


def write_reports(metrics: dict[str, Any], out_dir: str | Path, stem: str) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md",
             "png": out / f"{stem}_confusion.png"}
    paths["json"].write_text(json.dumps(jsonable(metrics), indent=2))
    title = (f"{metrics.get('model_name', 'model')} on {metrics.get('dataset', '?')} "
             f"({metrics.get('split', '?')} split)")
    paths["markdown"].write_text(
        metrics_markdown(metrics, title) + f"\nCheckpoint: `{metrics.get('checkpoint', '')}`, "
        f"epoch {metrics.get('epoch', '?')}; {metrics['num_samples']} samples.\n")
    plot_confusion(metrics, paths["png"], title)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    p.add_argument("--data-root", help="folder holding the datasets (default: $UPSEG_DATA_ROOT "
                   "or <repo>/../shared/data)")
    p.add_argument("--root", help="the dataset folder itself")
    p.add_argument("--out", help="report folder (default: <checkpoint folder>/eval)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-samples", type=int, help="evaluate only the first N samples")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--num-workers", type=int, default=0)
    args = p.parse_args(list(argv) if argv is not None else None)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides: dict[str, Any] = {}
    if args.data_root:
        overrides["data_root"] = args.data_root
    if args.root:
        overrides["root"] = args.root
    if args.max_samples:
        overrides["max_samples"] = {args.split: args.max_samples}
    metrics = evaluate_checkpoint(args.checkpoint, args.split, overrides, args.device,
                                  args.batch_size, args.num_workers)
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / "eval"
    stem = f"{Path(args.checkpoint).stem}_{args.split}"
    paths = write_reports(metrics, out, stem)
    print(metrics_markdown(metrics, f"{metrics['model_name']} / {args.split}"))
    print(f"wrote {paths['json']}, {paths['markdown']}, {paths['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
