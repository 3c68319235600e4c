"""One training epoch (forward, loss, backward, step, with AMP and gradient clipping), and the
validation row of a run without a validation split."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from model_export.data.spec import DatasetSpec


def no_validation(spec: DatasetSpec) -> dict[str, Any]:
    nan = math.nan
    k = spec.num_classes
    return {"loss": nan, "oa": nan, "mpa": nan, "miou": nan, "fwiou": nan, "kappa": nan,
            "iou": [nan] * k, "class_names": spec.class_names}


def train_epoch(net: nn.Module, loader: DataLoader, criterion: nn.Module,
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
