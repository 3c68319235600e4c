"""The data side of a training run: datasets, their statistics (normalisation and class counts
from the training split only), transforms, and this process's loaders."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset

from model_export.data import build_dataset, dataset_spec
from model_export.data.spec import DatasetSpec
from model_export.data.stats import RunningBandStats
from model_export.data.transforms import build_transforms
from model_export.training.distributed import barrier


def training_statistics(dataset: Any, num_classes: int, ignore_index: int,
                        max_samples: int | None = None) -> dict[str, Any]:
    """One pass over the raw training split: band mean / std per modality and class counts."""
    acc = {"optical": RunningBandStats(), "sar": RunningBandStats()}
    counts = np.zeros(num_classes, np.int64)
    n = len(dataset) if max_samples is None else min(len(dataset), int(max_samples))
    for i in range(n):
        s = dataset[i]
        acc["optical"].update(s["optical"])
        acc["sar"].update(s["sar"])
        lab = s["label"].numpy().ravel()
        lab = lab[(lab != ignore_index) & (lab < num_classes)]
        counts += np.bincount(lab, minlength=num_classes)
    return {"normalisation": {m: a.result() for m, a in acc.items()},
            "class_counts": counts.tolist(), "num_samples": n}


def _loader(ds: Any, batch_size: int, num_workers: int, sampler: Any = None,
            drop_last: bool = False) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, shuffle=False,
                      num_workers=num_workers, drop_last=drop_last,
                      persistent_workers=num_workers > 0, pin_memory=torch.cuda.is_available())


@dataclass
class RunData:
    """The datasets, their training statistics and loaders of one run (this process's share)."""

    train: Any
    val: Any
    spec: DatasetSpec
    validate: bool
    stats: dict[str, Any]
    sampler: DistributedSampler
    train_loader: DataLoader
    val_loader: DataLoader


def prepare_data(cfg: dict[str, Any], ckpt: dict[str, Any] | None, out_dir: Path, rank: int,
                 world: int) -> RunData:
    dcfg = cfg["data"]
    train_ds = build_dataset(dcfg, "train")
    val_ds = build_dataset(dcfg, "val")
    spec = dataset_spec(train_ds)
    # No validation split (data.options.val_scheme: none): every epoch is "best", so best.pt is
    # the last epoch; the recipe was chosen by grouped cross-validation beforehand.
    validate = len(val_ds) > 0 or dcfg.get("options", {}).get("val_scheme") != "none"
    if len(train_ds) == 0 or (validate and len(val_ds) == 0):
        raise ValueError(f"empty split: {len(train_ds)} train / {len(val_ds)} val samples")
    stats = run_statistics(dcfg, ckpt, out_dir, train_ds, spec, rank, world)
    normalisation = stats["normalisation"]
    train_ds.transform = build_transforms(dcfg.get("augment"), spec, normalisation, train=True)
    val_ds.transform = build_transforms(None, spec, normalisation, train=False)
    # DistributedSampler also in one process: its permutation depends only on (seed, epoch), so
    # a resumed run sees the same order as an uninterrupted one.
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True,
                                 seed=int(cfg["seed"]), drop_last=world > 1)
    bs = int(dcfg["batch_size"])
    workers = int(dcfg.get("num_workers", 0))
    train_loader = _loader(train_ds, bs, workers, sampler, drop_last=len(train_ds) // world > bs)
    # Validation sharded without padding (exact metrics), confusion matrices summed.
    val_part = Subset(val_ds, list(range(rank, len(val_ds), world))) if world > 1 else val_ds
    val_loader = _loader(val_part, int(dcfg.get("eval_batch_size", bs)), workers)
    return RunData(train_ds, val_ds, spec, validate, stats, sampler, train_loader, val_loader)


def run_statistics(dcfg: dict[str, Any], ckpt: dict[str, Any] | None, out_dir: Path,
                    train_ds: Any, spec: DatasetSpec, rank: int, world: int) -> dict[str, Any]:
    """Normalisation and class counts from the training split only; rank 0 computes them once,
    the others read the file (resuming re-uses the stored values)."""
    if ckpt is not None:
        return {"normalisation": ckpt["normalisation"], "class_counts": ckpt.get("class_counts")}
    stats_path = out_dir / "train_stats.json"
    if rank == 0:
        t0 = time.time()
        stats = training_statistics(train_ds, spec.num_classes, spec.ignore_index,
                                    dcfg.get("stats_max_samples"))
        stats_path.write_text(json.dumps(stats, indent=2))
        print(f"[train] statistics of {stats['num_samples']} training samples in "
              f"{time.time() - t0:.1f}s: class counts {stats['class_counts']}", flush=True)
    barrier(world)
    return json.loads(stats_path.read_text())
