"""Optimiser and learning-rate schedule of a training run (from the ``train`` config)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


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
