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

This module holds the run and the command line; the configuration is in ``config.py``, process
set-up in ``distributed.py``, the data side in ``run_data.py``, one epoch in ``epoch.py``, the
optimiser and schedule in ``optimisation.py``, the logs in ``run_logs.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from torch import nn

from model_export.data.spec import DatasetSpec
from model_export.evaluation.evaluate import evaluate_model, select_metric
from model_export.training.checkpoint import (
    init_from_state,
    load_checkpoint,
    save_checkpoint,
    unwrap,
)

# REPO_ROOT and apply_overrides: imported from here by grouped_cv.py and the tests.
from model_export.training.config import REPO_ROOT, apply_overrides, load_config  # noqa: F401
from model_export.training.distributed import barrier, seed_everything, setup_distributed
from model_export.training.epoch import no_validation, train_epoch
from model_export.training.losses import build_loss, class_weights_from_counts
from model_export.training.optimisation import build_optimizer, build_scheduler
from model_export.training.run_data import RunData, prepare_data
from model_export.training.run_logs import write_logs


def _class_weights(tcfg: dict[str, Any], stats: dict[str, Any]) -> list[float] | None:
    cw_cfg = tcfg.get("class_weights")
    if cw_cfg == "auto":
        return class_weights_from_counts(stats["class_counts"],
                                         tcfg.get("class_weight_method", "inverse_sqrt"))
    return list(cw_cfg) if cw_cfg else None


# --- model and optimisation -------------------------------------------------------------------

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


@dataclass
class Trainer:
    """The model and what optimises it; `net` is the model, wrapped for DDP when distributed."""

    model: nn.Module
    model_cfg: dict[str, Any]
    net: nn.Module
    criterion: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp: bool
    steps: int


@dataclass
class Progress:
    """Where the run stands: the next epoch, the best selection metric, one row per epoch."""

    start_epoch: int = 1
    best: float = -math.inf
    history: list[dict[str, Any]] = field(default_factory=list)


def build_trainer(cfg: dict[str, Any], data: RunData, device: torch.device) -> Trainer:
    tcfg = cfg["train"]
    model, model_cfg = build_model_for(cfg, data.spec)
    if hasattr(model, "set_input_statistics"):  # models fed raw units (Galileo) undo the norm
        model.set_input_statistics(data.stats["normalisation"], data.spec.name,
                                   {"optical": data.spec.optical_units,
                                    "sar": data.spec.sar_units})
    model.to(device)
    criterion = build_loss(tcfg, _class_weights(tcfg, data.stats),
                           data.spec.ignore_index).to(device)
    opt = build_optimizer(model, tcfg)
    steps = len(data.train_loader)
    if tcfg.get("max_steps_per_epoch"):
        steps = min(steps, int(tcfg["max_steps_per_epoch"]))
    sched = build_scheduler(opt, tcfg, steps)
    amp = bool(tcfg.get("amp", True)) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    return Trainer(model, model_cfg, model, criterion, opt, sched, scaler, amp, steps)


def resume_progress(trainer: Trainer, ckpt: dict[str, Any] | None, is_main: bool) -> Progress:
    """Load the checkpoint's model, optimiser, schedule and history into `trainer`."""
    if ckpt is None:
        return Progress()
    trainer.model.load_state_dict(ckpt["state_dict"])
    trainer.opt.load_state_dict(ckpt["optimizer"])
    trainer.sched.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler"):
        trainer.scaler.load_state_dict(ckpt["scaler"])
    best = float(ckpt["best_metric"]) if ckpt["best_metric"] is not None else -math.inf
    if is_main:
        print(f"[train] resumed from epoch {ckpt['epoch']} (best {best:.4f})", flush=True)
    return Progress(int(ckpt["epoch"]) + 1, best, list(ckpt.get("history", [])))


def _wrap_ddp(trainer: Trainer, tcfg: dict[str, Any], device: torch.device, world: int) -> None:
    if world > 1:
        trainer.net = nn.parallel.DistributedDataParallel(
            trainer.model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(tcfg.get("ddp_find_unused_parameters", False)))


# --- the run ----------------------------------------------------------------------------------

def _checkpoint_to_resume(out_dir: Path, resume: str | None) -> dict[str, Any] | None:
    if not resume:
        return None
    path = out_dir / "last.pt" if resume == "auto" else Path(resume)
    if path.is_file():
        return load_checkpoint(path)
    if resume != "auto":
        raise FileNotFoundError(f"--resume {path}: no such checkpoint")
    return None


def run(cfg: dict[str, Any], resume: str | None = None) -> dict[str, Any]:
    """Train according to ``cfg`` (a full config: config.DEFAULT_CONFIG and what is merged on
    top); returns a summary dict."""
    rank, world, device = setup_distributed(cfg)
    is_main = rank == 0
    seed_everything(int(cfg["seed"]))
    out_dir = _resolve_out(cfg)
    ckpt = _checkpoint_to_resume(out_dir, resume)
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    barrier(world)
    data = prepare_data(cfg, ckpt, out_dir, rank, world)
    trainer = build_trainer(cfg, data, device)
    progress = resume_progress(trainer, ckpt, is_main)
    _wrap_ddp(trainer, cfg["train"], device, world)
    epochs = int(cfg["train"]["epochs"])
    if is_main:
        n_params = sum(p.numel() for p in trainer.model.parameters())
        print(f"[train] {cfg['model']['name']} ({n_params / 1e6:.2f} M parameters) on "
              f"{data.spec.name}: {len(data.train)} train / {len(data.val)} val samples, {world} "
              f"process(es), device {device}, {trainer.steps} steps/epoch", flush=True)
    last_epoch = epochs
    if cfg["train"].get("stop_after_epochs"):
        last_epoch = min(epochs, progress.start_epoch - 1 + int(cfg["train"]["stop_after_epochs"]))
    for epoch in range(progress.start_epoch, last_epoch + 1):
        run_epoch(cfg, epoch, data, trainer, progress, out_dir, rank, world, device)
        barrier(world)
    return _summary(cfg, progress, out_dir, is_main)


def run_epoch(cfg: dict[str, Any], epoch: int, data: RunData, trainer: Trainer,
              progress: Progress, out_dir: Path, rank: int, world: int,
              device: torch.device) -> None:
    """Train one epoch, validate, and (rank 0) write checkpoints and logs."""
    tcfg, spec, t = cfg["train"], data.spec, trainer
    epochs, select = int(tcfg["epochs"]), str(tcfg.get("select_metric", "miou"))
    # Re-seeding per epoch makes augmentations independent of where a run was resumed.
    seed_everything(int(cfg["seed"]) * 1000 + epoch * 10 + rank)
    data.sampler.set_epoch(epoch)
    row = train_epoch(t.net, data.train_loader, t.criterion, t.opt, t.sched, t.scaler, device,
                      t.amp, t.steps, float(tcfg.get("grad_clip") or 0.0),
                      rank == 0 and cfg.get("progress", True), epoch, epochs, world)
    # train.validate "last": score only the final epoch (runs that pick no epoch need no more)
    check = data.validate and (tcfg.get("validate", "every") != "last" or epoch == epochs)
    val = evaluate_model(t.model, data.val_loader, spec.num_classes, spec.ignore_index, device,
                         class_names=spec.class_names, criterion=t.criterion, amp=t.amp,
                         distributed=world > 1) if check else no_validation(spec)
    value = select_metric(val, select) if check else float(epoch) if not data.validate \
        else math.nan
    row.update(epoch=epoch, lr=t.opt.param_groups[0]["lr"], val_loss=val["loss"],
               val_oa=val["oa"], val_mpa=val["mpa"], val_miou=val["miou"],
               val_fwiou=val["fwiou"], val_kappa=val["kappa"], val_select=value)
    for name, iou in zip(spec.class_names, val["iou"], strict=True):
        row[f"val_iou_{name.replace(' ', '_')}"] = iou
    progress.history.append(row)
    improved = not math.isnan(value) and value > progress.best
    if improved:
        progress.best = value
    if rank == 0:
        _save_epoch(cfg, epoch, data, trainer, progress, val, out_dir, improved)
        scores = (f"val loss {val['loss']:.4f} mIoU {val['miou']:.4f} mPA {val['mpa']:.4f} "
                  f"OA {val['oa']:.4f} {select} {value:.4f}{' (best)' if improved else ''}"
                  if check else "not validated (validate: last)" if data.validate
                  else "no validation split: the last epoch is kept")
        print(f"[train] epoch {epoch}/{epochs} loss {row['train_loss']:.4f} {scores} "
              f"{row['train_images_per_s']:.1f} img/s", flush=True)


def _save_epoch(cfg: dict[str, Any], epoch: int, data: RunData, trainer: Trainer,
                progress: Progress, val: dict[str, Any], out_dir: Path, improved: bool) -> None:
    """last.pt (best.pt too when the epoch improved) and the logs."""
    from upseg_qgis.core.accuracy.metrics import jsonable

    t, best = trainer, progress.best
    state = {
        "model_name": cfg["model"]["name"], "model_config": t.model_cfg,
        "state_dict": unwrap(t.model).state_dict(), "dataset": data.spec.to_dict(),
        "normalisation": data.stats["normalisation"], "epoch": epoch,
        "optimizer": t.opt.state_dict(), "scheduler": t.sched.state_dict(),
        "best_metric": best if best > -math.inf else None, "val_metrics": jsonable(val),
        "config": cfg, "seed": int(cfg["seed"]),
        "scaler": t.scaler.state_dict() if t.amp else None, "history": progress.history,
        "class_counts": data.stats.get("class_counts"),
        "select_metric": str(cfg["train"].get("select_metric", "miou")),
    }
    save_checkpoint(state, out_dir / "last.pt")
    if improved:
        save_checkpoint(state, out_dir / "best.pt")
    write_logs(out_dir, progress.history, cfg)


def _summary(cfg: dict[str, Any], progress: Progress, out_dir: Path,
             is_main: bool) -> dict[str, Any]:
    """The run's summary (summary.json on rank 0, without the history)."""
    history, best = progress.history, progress.best
    best_row = max(history, key=lambda h: -math.inf if h["val_select"] is None or math.isnan(
        h["val_select"]) else h["val_select"]) if history else None
    summary = {"run_dir": str(out_dir), "best_metric": best if best > -math.inf else None,
               "select_metric": str(cfg["train"].get("select_metric", "miou")),
               "best_epoch": best_row["epoch"] if best_row else None,
               "last_checkpoint": str(out_dir / "last.pt"),
               "best_checkpoint": str(out_dir / "best.pt"), "epochs": len(history),
               "history": history}
    if is_main:
        (out_dir / "summary.json").write_text(json.dumps(
            {k: v for k, v in summary.items() if k != "history"}, indent=2))
    return summary


# --- command line -----------------------------------------------------------------------------

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
