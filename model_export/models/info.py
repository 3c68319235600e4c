"""`python -m model_export info`: parameter counts and FLOPs of the registered variants."""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from .layers import count_parameters
from .registry import build_model, list_models


def count_gmacs(model: torch.nn.Module, optical: torch.Tensor, sar: torch.Tensor) -> float:
    """Multiply-accumulates (GMACs) of one forward pass: conv and matmul ops, as counted by
    torch.utils.flop_counter (elementwise ops, norms and resizes are not counted)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(optical, sar)
    model.train(was_training)
    return counter.get_total_flops() / 2 / 1e9


def model_info(
    name: str, height: int = 256, width: int = 256, batch: int = 1, **overrides: Any
) -> dict[str, Any]:
    """Counts for one variant at input size (batch, C, height, width)."""
    model = build_model(name, **overrides)
    cfg = model.config
    optical = torch.randn(batch, cfg.in_channels_optical, height, width)
    sar = torch.randn(batch, cfg.in_channels_sar, height, width)
    total = count_parameters(model)
    return {
        "model": name,
        "params": total,
        "trainable": count_parameters(model, trainable_only=True),
        "gmacs": round(count_gmacs(model, optical, sar), 4),
        "fp32_mib": round(total * 4 / 2**20, 2),
        "input": [batch, height, width],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_export info",
        description="Parameter counts (total/trainable) and GMACs of UPSeg variants.",
    )
    parser.add_argument("models", nargs="*", help=f"variants (default: all of {list_models()})")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--optical-channels", type=int, default=None)
    parser.add_argument("--sar-channels", type=int, default=None)
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument(
        "--freeze-backbone", action="store_true", help="count trainable with a frozen backbone"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)

    names = args.models or list_models()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {list_models()}")
    overrides: dict[str, Any] = {"init_seed": 0}
    if args.optical_channels is not None:
        overrides["in_channels_optical"] = args.optical_channels
    if args.sar_channels is not None:
        overrides["in_channels_sar"] = args.sar_channels
    if args.num_classes is not None:
        overrides["num_classes"] = args.num_classes
    if args.freeze_backbone:
        overrides["freeze_backbone"] = True

    h, w = args.size
    if not args.json:
        print(f"input: batch {args.batch}, {h}x{w}; GMACs count conv + matmul")
        print(f"{'model':<24}{'params':>12}{'trainable':>12}{'GMACs':>10}{'fp32 MiB':>10}")
    for name in names:
        info = model_info(name, h, w, args.batch, **overrides)
        if args.json:
            print(json.dumps(info))
        else:
            print(
                f"{name:<24}{info['params']:>12,}{info['trainable']:>12,}"
                f"{info['gmacs']:>10.3f}{info['fp32_mib']:>10.2f}"
            )
    return 0
