"""Training configuration: the defaults, YAML files on top, then ``--set key.sub=value``
overrides (values parsed as YAML), merged in that order."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

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
