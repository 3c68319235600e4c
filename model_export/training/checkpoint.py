"""Checkpoint format shared by training, evaluation and ONNX export.

A checkpoint is a ``torch.save``-d dict with (at least) these keys:

* ``model_name``: registry name (e.g. ``"upseg_tiny"``)
* ``model_config``: ``UPSegConfig.to_dict()``; rebuilds the exact architecture
* ``state_dict``: model weights (never prefixed by DDP's ``module.``)
* ``dataset``: ``DatasetSpec.to_dict()`` (classes, ignore index, bands with aliases, units,
  value ranges, GSD, citation, licence)
* ``normalisation``: ``{"optical": {"mean": [...], "std": [...]}, "sar": {...}}`` in native units,
  computed on the training split
* ``epoch`` (last completed, 1-based), ``optimizer``, ``scheduler`` (state dicts),
  ``best_metric`` (value of the selection metric of the best epoch so far), ``val_metrics`` (of
  this epoch, NaN as None), ``config`` (the full training config), ``seed``

Extra keys used for resuming: ``scaler`` (AMP), ``history`` (per-epoch log rows), ``rng_state``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

CHECKPOINT_KEYS = ("model_name", "model_config", "state_dict", "dataset", "normalisation",
                   "epoch", "optimizer", "scheduler", "best_metric", "val_metrics", "config",
                   "seed")


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model behind DDP / DataParallel wrappers."""
    return model.module if hasattr(model, "module") else model


def save_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write atomically (temp file then rename): a crash never leaves a truncated checkpoint."""
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise KeyError(f"checkpoint lacks keys {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu",
                    ) -> dict[str, Any]:
    # weights_only=False: our checkpoints hold plain Python config dicts next to tensors; only
    # load checkpoints you trust (as with any pickle).
    ckpt = torch.load(Path(path), map_location=map_location, weights_only=False)
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise KeyError(f"{path} is not an UPSeg checkpoint: missing {missing}")
    return ckpt


def build_model_from_checkpoint(ckpt: dict[str, Any]) -> nn.Module:
    """Rebuild the architecture from ``model_config`` and load ``state_dict``."""
    from model_export.models import UPSegConfig, build_model_from_config

    cfg = UPSegConfig.from_dict(ckpt["model_config"])
    try:
        model = build_model_from_config(cfg, load_pretrained=False)
    except TypeError:  # older signature without load_pretrained
        model = build_model_from_config(cfg)
    state = {k.removeprefix("module."): v for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state)
    return model


def load_for_inference(path: str | os.PathLike[str], device: str | torch.device = "cpu",
                       ) -> tuple[nn.Module, dict[str, Any]]:
    """``(model in eval mode on device, checkpoint dict)``."""
    ckpt = load_checkpoint(path, map_location="cpu")
    model = build_model_from_checkpoint(ckpt).to(device).eval()
    return model, ckpt


def init_from_state(model: nn.Module, path: str) -> list[str]:
    """Copy the parameters of the state dict at ``path`` whose names and shapes match; returns
    the names that were loaded (at least one, or the file is for another architecture)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    own = model.state_dict()
    loaded = [k for k, v in state.items() if k in own and own[k].shape == v.shape]
    if not loaded:
        raise ValueError(f"model.init_from {path}: no parameter matches this model")
    model.load_state_dict({k: state[k] for k in loaded}, strict=False)
    print(f"[train] initialised {len(loaded)} of {len(own)} tensors from {path}", flush=True)
    return loaded
