"""``python -m model_export train --config model_export/configs/ombria_upseg_tiny.yaml``.

Trains a registered model (``model.name``) on a dataset (``data.dataset``) with validation every
epoch, best and last checkpoints (see ``checkpoint.py`` for the format), ``--resume``, fixed seeds,
CPU or CUDA (AMP on CUDA), CE + Dice with class weights, CSV / JSON logs and a PNG of the curves.

Several processes: launch with PyTorch's own launcher, e.g.
``torchrun --standalone --nproc_per_node 2 -m model_export train --config ...``; DDP uses gloo on
CPU and nccl on CUDA, a DistributedSampler shards the training set, validation is sharded and its
confusion matrix summed, and only rank 0 logs and writes checkpoints. ``data.batch_size`` is per
process.

Overrides: ``--set train.epochs=5 --set model.name=sar_only_tiny`` (values parsed as YAML).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset

from model_export.data import build_dataset, dataset_spec
from model_export.data.spec import DatasetSpec
from model_export.data.stats import RunningBandStats
from model_export.data.transforms import build_transforms
from model_export.evaluation.evaluate import evaluate_model, select_metric
from model_export.training.checkpoint import (
    init_from_state,
    load_checkpoint,
    save_checkpoint,
    unwrap,
)
from model_export.training.losses import build_loss, class_weights_from_counts

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_CONFIG: dict[str, Any] = {
    "experiment": "upseg",
    "seed": 0,
    "output_dir": "runs/upseg",
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "threads": None,  # torch.set_num_threads; None: all cores (split between DDP processes)
    "progress": True,
    "data": {
        "dataset": "ombria",
        "data_root": None,  # base folder; default $UPSEG_DATA_ROOT or <repo>/../shared/data
        "root": None,  # the dataset folder itself (overrides data_root)
        "val_fraction": 0.1,
        "split_seed": 42,
        "patch_size": 256,
        "stride": None,
        "cache": True,
        "batch_size": 8,
        "eval_batch_size": 8,
        "num_workers": 0,
        "max_samples": {"train": None, "val": None, "test": None},
        "stats_max_samples": None,
        "options": {},
        "augment": {"crop": None, "flip": True, "rot90": True, "gain_offset": {}},
    },
    # init_from: a state dict (e.g. from `python -m model_export pretrain`) whose matching
    # parameters initialise the model before training; the others keep their initialisation.
    "model": {"name": "upseg_tiny", "options": {}, "init_from": None},
    "train": {
        "epochs": 20,
        "max_steps_per_epoch": None,
        # Stop this invocation after N epochs while the schedule still spans `epochs`
        # (time-sliced jobs: run, then --resume later).
        "stop_after_epochs": None,
        "optimizer": "adamw",
        "lr": 2e-3,
        "weight_decay": 0.05,
        "scheduler": "cosine",  # cosine | none
        "warmup_epochs": 1,
        "min_lr_ratio": 0.01,
        "loss": "ce_dice",
        "dice_weight": 1.0,
        "label_smoothing": 0.0,
        "class_weights": "auto",  # auto | null | [w0, w1, ...]
        "class_weight_method": "inverse_sqrt",
        "amp": True,  # only on CUDA
        "grad_clip": 1.0,
        "select_metric": "miou",  # miou | mpa | oa | fwiou | kappa | iou:<class name>
        "ddp_find_unused_parameters": False,
    },
}


# --- configuration ----------------------------------------------------------------------------

def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in (update or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k),
                                                                             dict) else v
    return out


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``key.sub=value`` strings (value parsed as YAML) applied in order."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        node = cfg
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return cfg


def load_config(path: str | os.PathLike[str] | None, overrides: Sequence[str] = (),
                base: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg = deep_merge(DEFAULT_CONFIG, base or {})
    if path:
        cfg = deep_merge(cfg, yaml.safe_load(Path(path).read_text()) or {})
    return apply_overrides(cfg, overrides)


# --- process set-up ---------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup_distributed(cfg: dict[str, Any]) -> tuple[int, int, torch.device]:
    """``(rank, world_size, device)``; initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    want = str(cfg.get("device", "auto"))
    use_cuda = torch.cuda.is_available() and want != "cpu"
    if want.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {want!r} requested but CUDA is not available")
    if use_cuda:
        index = local_rank if world > 1 or want in {"auto", "cuda"} else int(want.split(":")[1])
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    else:
        device = torch.device("cpu")
    threads = cfg.get("threads")
    if threads is None and world > 1 and device.type == "cpu":
        # Processes on one machine would otherwise each spawn a thread per core.
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        threads = max(1, (os.cpu_count() or 1) // local_world)
    if threads:
        torch.set_num_threads(int(threads))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


# --- data -------------------------------------------------------------------------------------

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


# --- optimisation -----------------------------------------------------------------------------

def build_optimizer(model: nn.Module, tcfg: dict[str, Any]) -> torch.optim.Optimizer:
    # No weight decay on norms, biases and learned scales (1-D parameters).
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": float(tcfg["weight_decay"])},
              {"params": no_decay, "weight_decay": 0.0}]
    name = tcfg.get("optimizer", "adamw")
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=float(tcfg["lr"]))
    if name == "sgd":
        return torch.optim.SGD(groups, lr=float(tcfg["lr"]), momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}")


def build_scheduler(opt: torch.optim.Optimizer, tcfg: dict[str, Any], steps_per_epoch: int,
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step linear warm-up then cosine decay to ``min_lr_ratio`` (or constant)."""
    total = max(1, int(tcfg["epochs"]) * steps_per_epoch)
    warm = min(int(float(tcfg.get("warmup_epochs", 0)) * steps_per_epoch), total - 1)
    floor = float(tcfg.get("min_lr_ratio", 0.0))
    kind = tcfg.get("scheduler", "cosine")

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if kind == "none":
            return 1.0
        t = min(1.0, (step - warm) / max(1, total - warm))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


# --- logging ----------------------------------------------------------------------------------

LOG_FIELDS = ("epoch", "lr", "train_loss", "val_loss", "val_oa", "val_mpa", "val_miou",
              "val_fwiou", "val_kappa", "val_select", "train_images_per_s", "epoch_seconds")


def write_logs(out_dir: Path, history: list[dict[str, Any]], cfg: dict[str, Any]) -> None:
    with (out_dir / "log.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*LOG_FIELDS, *_per_class_fields(history)],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(history)
    from upseg_qgis.core.metrics import jsonable

    # Strict JSON (NaN -> null) so any tool can read the log.
    (out_dir / "log.json").write_text(json.dumps(jsonable({"config": cfg, "history": history}),
                                                 indent=2))
    plot_curves(history, out_dir / "curves.png", title=str(cfg.get("experiment", "")))


def _per_class_fields(history: list[dict[str, Any]]) -> list[str]:
    return [k for k in (history[-1] if history else {}) if k.startswith("val_iou_")]


def plot_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a.plot(ep, [h["val_loss"] for h in history], "o-", label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.legend(), a.grid(alpha=0.3)
    for key in ("val_miou", "val_mpa", "val_oa", *_per_class_fields(history)):
        b.plot(ep, [h.get(key) if h.get(key) is not None else np.nan for h in history], "o-",
               label=key.removeprefix("val_"))
    b.set_xlabel("epoch"), b.set_ylabel("validation"), b.legend(fontsize=8), b.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- the run ----------------------------------------------------------------------------------

def _resolve_out(cfg: dict[str, Any]) -> Path:
    out = Path(cfg["output_dir"])
    return out if out.is_absolute() else Path.cwd() / out


def build_model_for(cfg: dict[str, Any], spec: DatasetSpec) -> tuple[nn.Module, dict[str, Any]]:
    from model_export.models import build_model_from_config, model_config

    # Band names travel with the model: DOFA derives its wavelengths from them and a ConvNeXt
    # stem maps pretrained RGB filters by band meaning.
    bands = {"optical_bands": [b.name for b in spec.optical_bands],
             "sar_bands": [b.name for b in spec.sar_bands]}
    mcfg = model_config(cfg["model"]["name"], in_channels_optical=spec.in_channels_optical,
                        in_channels_sar=spec.in_channels_sar, num_classes=spec.num_classes,
                        init_seed=int(cfg["seed"]),
                        **{**bands, **(cfg["model"].get("options") or {})})
    model = build_model_from_config(mcfg)
    if cfg["model"].get("init_from"):
        init_from_state(model, cfg["model"]["init_from"])
    return model, mcfg.to_dict()


def run(cfg: dict[str, Any], resume: str | None = None) -> dict[str, Any]:
    """Train according to ``cfg`` (a full config, see DEFAULT_CONFIG); returns a summary dict."""
    rank, world, device = setup_distributed(cfg)
    is_main = rank == 0
    seed = int(cfg["seed"])
    seed_everything(seed)
    out_dir = _resolve_out(cfg)
    dcfg, tcfg = cfg["data"], cfg["train"]

    ckpt = None
    if resume:
        path = out_dir / "last.pt" if resume == "auto" else Path(resume)
        if path.is_file():
            ckpt = load_checkpoint(path)
        elif resume != "auto":
            raise FileNotFoundError(f"--resume {path}: no such checkpoint")
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    _barrier(world)

    train_ds = build_dataset(dcfg, "train")
    val_ds = build_dataset(dcfg, "val")
    spec = dataset_spec(train_ds)
    # No validation split (data.options.val_scheme: none): every epoch is "best", so best.pt is
    # the last epoch; the recipe was chosen by grouped cross-validation beforehand.
    validate = len(val_ds) > 0 or dcfg.get("options", {}).get("val_scheme") != "none"
    if len(train_ds) == 0 or (validate and len(val_ds) == 0):
        raise ValueError(f"empty split: {len(train_ds)} train / {len(val_ds)} val samples")

    # Normalisation and class weights from the training split only; rank 0 computes them once,
    # the others read the file (resuming re-uses the stored values).
    stats_path = out_dir / "train_stats.json"
    if ckpt is not None:
        train_stats = {"normalisation": ckpt["normalisation"],
                       "class_counts": ckpt.get("class_counts")}
    else:
        if is_main:
            t0 = time.time()
            train_stats = training_statistics(train_ds, spec.num_classes, spec.ignore_index,
                                              dcfg.get("stats_max_samples"))
            stats_path.write_text(json.dumps(train_stats, indent=2))
            print(f"[train] statistics of {train_stats['num_samples']} training samples in "
                  f"{time.time() - t0:.1f}s: class counts {train_stats['class_counts']}",
                  flush=True)
        _barrier(world)
        train_stats = json.loads(stats_path.read_text())
    normalisation = train_stats["normalisation"]
    cw_cfg = tcfg.get("class_weights")
    if cw_cfg == "auto":
        class_weights = class_weights_from_counts(train_stats["class_counts"],
                                                  tcfg.get("class_weight_method",
                                                           "inverse_sqrt"))
    else:
        class_weights = list(cw_cfg) if cw_cfg else None

    train_ds.transform = build_transforms(dcfg.get("augment"), spec, normalisation, train=True)
    val_ds.transform = build_transforms(None, spec, normalisation, train=False)
    # DistributedSampler also in one process: its permutation depends only on (seed, epoch), so
    # a resumed run sees the same order as an uninterrupted one.
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True,
                                 seed=seed, drop_last=world > 1)
    bs = int(dcfg["batch_size"])
    workers = int(dcfg.get("num_workers", 0))
    train_loader = _loader(train_ds, bs, workers, sampler, drop_last=len(train_ds) // world > bs)
    # Validation sharded without padding (exact metrics), confusion matrices summed.
    val_part = Subset(val_ds, list(range(rank, len(val_ds), world))) if world > 1 else val_ds
    val_loader = _loader(val_part, int(dcfg.get("eval_batch_size", bs)), workers)

    model, model_cfg = build_model_for(cfg, spec)
    model.to(device)
    criterion = build_loss(tcfg, class_weights, spec.ignore_index).to(device)
    opt = build_optimizer(model, tcfg)
    steps = len(train_loader)
    if tcfg.get("max_steps_per_epoch"):
        steps = min(steps, int(tcfg["max_steps_per_epoch"]))
    sched = build_scheduler(opt, tcfg, steps)
    amp = bool(tcfg.get("amp", True)) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    start_epoch, best, history = 1, -math.inf, []
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch = int(ckpt["epoch"]) + 1
        best = float(ckpt["best_metric"]) if ckpt["best_metric"] is not None else -math.inf
        history = list(ckpt.get("history", []))
        if is_main:
            print(f"[train] resumed from epoch {ckpt['epoch']} (best {best:.4f})", flush=True)
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(tcfg.get("ddp_find_unused_parameters", False)))

    epochs = int(tcfg["epochs"])
    select = str(tcfg.get("select_metric", "miou"))
    if is_main:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"[train] {cfg['model']['name']} ({n_params / 1e6:.2f} M parameters) on "
              f"{spec.name}: {len(train_ds)} train / {len(val_ds)} val samples, {world} "
              f"process(es), device {device}, {steps} steps/epoch", flush=True)
    summary: dict[str, Any] = {}
    last_epoch = epochs
    if tcfg.get("stop_after_epochs"):
        last_epoch = min(epochs, start_epoch - 1 + int(tcfg["stop_after_epochs"]))
    for epoch in range(start_epoch, last_epoch + 1):
        # Re-seeding per epoch makes augmentations independent of where a run was resumed.
        seed_everything(seed * 1000 + epoch * 10 + rank)
        sampler.set_epoch(epoch)
        row = _train_epoch(net, train_loader, criterion, opt, sched, scaler, device, amp, steps,
                           float(tcfg.get("grad_clip") or 0.0), is_main and cfg.get("progress",
                                                                                   True),
                           epoch, epochs, world)
        val = evaluate_model(model, val_loader, spec.num_classes, spec.ignore_index, device,
                             class_names=spec.class_names, criterion=criterion, amp=amp,
                             distributed=world > 1) if validate else _no_validation(spec)
        value = select_metric(val, select) if validate else float(epoch)
        row.update(epoch=epoch, lr=opt.param_groups[0]["lr"], val_loss=val["loss"],
                   val_oa=val["oa"], val_mpa=val["mpa"], val_miou=val["miou"],
                   val_fwiou=val["fwiou"], val_kappa=val["kappa"], val_select=value)
        for name, iou in zip(spec.class_names, val["iou"], strict=True):
            row[f"val_iou_{name.replace(' ', '_')}"] = iou
        history.append(row)
        improved = not math.isnan(value) and value > best
        if improved:
            best = value
        if is_main:
            from upseg_qgis.core.metrics import jsonable

            state = {
                "model_name": cfg["model"]["name"], "model_config": model_cfg,
                "state_dict": unwrap(model).state_dict(), "dataset": spec.to_dict(),
                "normalisation": normalisation, "epoch": epoch, "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "best_metric": best if best > -math.inf
                else None, "val_metrics": jsonable(val), "config": cfg, "seed": seed,
                "scaler": scaler.state_dict() if amp else None, "history": history,
                "class_counts": train_stats.get("class_counts"), "select_metric": select,
            }
            save_checkpoint(state, out_dir / "last.pt")
            if improved:
                save_checkpoint(state, out_dir / "best.pt")
            write_logs(out_dir, history, cfg)
            scores = (f"val loss {val['loss']:.4f} mIoU {val['miou']:.4f} mPA {val['mpa']:.4f} "
                      f"OA {val['oa']:.4f} {select} {value:.4f}{' (best)' if improved else ''}"
                      if validate else "no validation split: the last epoch is kept")
            print(f"[train] epoch {epoch}/{epochs} loss {row['train_loss']:.4f} {scores} "
                  f"{row['train_images_per_s']:.1f} img/s", flush=True)
        _barrier(world)
    best_row = max(history, key=lambda h: -math.inf if h["val_select"] is None or math.isnan(
        h["val_select"]) else h["val_select"]) if history else None
    summary = {"run_dir": str(out_dir), "best_metric": best if best > -math.inf else None,
               "select_metric": select, "best_epoch": best_row["epoch"] if best_row else None,
               "last_checkpoint": str(out_dir / "last.pt"),
               "best_checkpoint": str(out_dir / "best.pt"), "epochs": len(history),
               "history": history}
    if is_main:
        (out_dir / "summary.json").write_text(json.dumps(
            {k: v for k, v in summary.items() if k != "history"}, indent=2))
    return summary


def _no_validation(spec: DatasetSpec) -> dict[str, Any]:
    nan = math.nan
    k = spec.num_classes
    return {"loss": nan, "oa": nan, "mpa": nan, "miou": nan, "fwiou": nan, "kappa": nan,
            "iou": [nan] * k, "class_names": spec.class_names}


def _train_epoch(net: nn.Module, loader: DataLoader, criterion: nn.Module,
                 opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LambdaLR,
                 scaler: torch.amp.GradScaler, device: torch.device, amp: bool, steps: int,
                 grad_clip: float, progress: bool, epoch: int, epochs: int, world: int,
                 ) -> dict[str, Any]:
    from tqdm import tqdm

    net.train()
    total, count, images = 0.0, 0, 0
    t0 = time.perf_counter()
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False,
               mininterval=1.0, dynamic_ncols=True, file=sys.stderr)
    for i, batch in enumerate(loader):
        if i >= steps:
            break
        optical = batch["optical"].to(device, non_blocking=True)
        sar = batch["sar"].to(device, non_blocking=True)
        label = batch["label"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            logits = net(optical, sar)
        loss = criterion(logits.float(), label)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at epoch {epoch} step {i}")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        scaler.step(opt)
        scaler.update()
        sched.step()
        total += float(loss.detach()) * optical.shape[0]
        count += optical.shape[0]
        images += optical.shape[0] * world
        rate = images / max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix(loss=f"{total / count:.4f}", img_s=f"{rate:.1f}")
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t0
    stats = torch.tensor([total, float(count)], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(stats)
    return {"train_loss": float(stats[0] / max(stats[1], 1.0)),
            "train_images_per_s": images / max(seconds, 1e-9), "epoch_seconds": seconds}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model_export train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML config (see model_export/configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="continue from a checkpoint (default: <output_dir>/last.pt)")
    p.add_argument("--data-root", help="folder holding the datasets (default: $UPSEG_DATA_ROOT "
                   "or <repo>/../shared/data)")
    p.add_argument("--output-dir", help="run folder (overrides output_dir)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="torch threads per process")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if not args.config and not args.resume:
        print("train: give --config (or --resume CHECKPOINT)", file=sys.stderr)
        return 2
    base = None
    if args.resume and not args.config and args.resume != "auto":
        base = load_checkpoint(args.resume)["config"]  # continue with the run's own config
    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data.data_root={args.data_root}")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if args.device:
        overrides.append(f"device={args.device}")
    if args.threads:
        overrides.append(f"threads={args.threads}")
    if args.no_progress:
        overrides.append("progress=false")
    cfg = load_config(args.config, overrides, base=base)
    try:
        run(cfg, resume=args.resume)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
