"""``python -m model_export pretrain``: cross-modal self-supervised pretraining of the encoder.

OMBRIA holds Sentinel-1 + Sentinel-2 pairs without labels: the pre-event pair of every patch
(``S1_before``, ``S2_before``) and the after-event pair itself. As in CROMA and DeCUR, the two
modalities of one place are two views of the same ground: the optical and the SAR stems, run
through the shared backbone separately (no prompts, no VEM: they would let one stream copy the
other), are trained so that the SAR feature at a location matches the optical feature at the
*same* location better than any other location of the batch (dense, symmetric InfoNCE at the
stride-16 and stride-32 stages). Geometric augmentation is shared by both views, radiometric
augmentation is drawn independently. The result is a state dict with the model's own parameter
names (``stems.*``, ``backbone.*``) for ``model.init_from`` of a training config.

Only the patches of the training split the config describes are used (a grouped fold's
validation patches are left out), so cross-validation of a pretrained recipe stays honest.
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
import torch
from torch import Tensor, nn
from torch.nn import functional as nnf
from torch.utils.data import DataLoader, Dataset

from model_export.data import build_dataset
from model_export.data._io import make_sample, read_raster
from model_export.data.robust_augment import build_robust
from model_export.data.stats import RunningBandStats
from model_export.data.transforms import Normalise, RandomCrop, RandomFlip, RandomRot90

DEFAULTS: dict[str, Any] = {"epochs": 30, "lr": 2e-3, "weight_decay": 0.05, "batch_size": 16,
                            "crop": 128, "temperature": 0.1, "projection_dim": 64,
                            "stages": [2, 3], "dates": ["before", "after"]}


class PairDataset(Dataset):
    """(optical, SAR) pairs of the given OMBRIA patches on the given dates, without labels."""

    def __init__(self, ombria: Any, dates: Sequence[str]) -> None:
        self.pairs: list[tuple[Path, Path]] = []
        for i in range(len(ombria)):
            _, s1, s2, _ = ombria.items[i]
            if "after" in dates:
                self.pairs.append((s2, s1))
            if "before" in dates:
                s1b, s2b = ombria.before_paths(i)
                if s1b.is_file() and s2b.is_file():
                    self.pairs.append((s2b, s1b))
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.transform: Any = None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index not in self.cache:
            s2, s1 = self.pairs[index]
            self.cache[index] = (read_raster(s2)[:3], read_raster(s1)[:1])
        opt, sar = self.cache[index]
        sample = make_sample(opt, sar, np.zeros(opt.shape[1:], np.int64))
        return self.transform(sample) if self.transform else sample


class CrossModalEncoder(nn.Module):
    """The model's stems and shared backbone, one modality at a time, plus projection heads."""

    def __init__(self, model: nn.Module, stages: Sequence[int], dim: int) -> None:
        super().__init__()
        self.model, self.stages = model, tuple(stages)
        dims = model.config.dims
        self.heads = nn.ModuleDict({
            f"{m}{s}": nn.Sequential(nn.Conv2d(dims[s], dims[s], 1), nn.GELU(),
                                     nn.Conv2d(dims[s], dim, 1))
            for m in ("optical", "sar") for s in self.stages})

    def features(self, x: Tensor, modality: str) -> list[Tensor]:
        h = self.model.stems[modality](x)
        out = []
        for i in range(self.model.backbone.num_stages):
            h = self.model.backbone.forward_stage(i, h)
            if i in self.stages:
                out.append(nnf.normalize(self.heads[f"{modality}{i}"](h), dim=1))
        return out


def dense_infonce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE between [N, D, H, W] maps: position (n, y, x) of ``a`` matches the same
    position of ``b`` against every other position of the batch."""
    qa = a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])
    qb = b.permute(0, 2, 3, 1).reshape(-1, b.shape[1])
    logits = qa @ qb.t() / temperature
    target = torch.arange(len(qa), device=a.device)
    return 0.5 * (nnf.cross_entropy(logits, target) + nnf.cross_entropy(logits.t(), target))


def _statistics(ds: PairDataset) -> dict[str, dict[str, list[float]]]:
    acc = {"optical": RunningBandStats(), "sar": RunningBandStats()}
    for i in range(len(ds)):
        s = ds[i]
        acc["optical"].update(s["optical"])
        acc["sar"].update(s["sar"])
    return {m: a.result() for m, a in acc.items()}


class _TwoViews:
    """Shared crop / flips / rotation, then independent radiometry for each view, normalised."""

    def __init__(self, crop: int, robust_cfg: dict[str, Any] | None,
                 stats: dict[str, dict[str, list[float]]]) -> None:
        self.geo = [RandomCrop(crop), RandomFlip(), RandomRot90()]
        self.radio = build_robust({k: v for k, v in (robust_cfg or {}).items()
                                   if k not in ("zoom", "nodata")}).radiometric
        self.norm = Normalise(stats)

    def __call__(self, s: dict[str, Any]) -> dict[str, Any]:
        for t in (*self.geo, *self.radio):
            s = t(s)
        return self.norm(s)


def pretrain(cfg: dict[str, Any], output: Path, threads: int | None = None) -> dict[str, Any]:
    """Pretrain the encoder of ``cfg``'s model on its training split; writes ``output``."""
    from model_export.data import dataset_spec
    from model_export.training.distributed import seed_everything
    from model_export.training.train import build_model_for

    if threads:
        torch.set_num_threads(threads)
    pcfg = {**DEFAULTS, **(cfg.get("pretrain") or {})}
    seed_everything(int(cfg["seed"]))
    ombria = build_dataset(cfg["data"], "train")
    ds = PairDataset(ombria, pcfg["dates"])
    stats = _statistics(ds)
    ds.transform = _TwoViews(int(pcfg["crop"]), (cfg["data"].get("augment") or {}).get("robust"),
                             stats)
    model, _ = build_model_for({**cfg, "model": {**cfg["model"], "init_from": None}},
                               dataset_spec(ombria))
    enc = CrossModalEncoder(model, pcfg["stages"], int(pcfg["projection_dim"]))
    loader = DataLoader(ds, batch_size=int(pcfg["batch_size"]), shuffle=True, drop_last=True)
    opt = torch.optim.AdamW(enc.parameters(), lr=float(pcfg["lr"]),
                            weight_decay=float(pcfg["weight_decay"]))
    total = int(pcfg["epochs"]) * len(loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, float(pcfg["lr"]), total_steps=total,
                                                pct_start=0.05)
    history = []
    for epoch in range(1, int(pcfg["epochs"]) + 1):
        t0, losses = time.perf_counter(), []
        for batch in loader:
            fo = enc.features(batch["optical"], "optical")
            fs = enc.features(batch["sar"], "sar")
            loss = sum(dense_infonce(a, b, float(pcfg["temperature"]))
                       for a, b in zip(fo, fs, strict=True)) / len(fo)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        history.append({"epoch": epoch, "loss": float(np.mean(losses)),
                        "seconds": time.perf_counter() - t0})
        print(f"[pretrain] epoch {epoch}/{pcfg['epochs']} loss {history[-1]['loss']:.4f} "
              f"({history[-1]['seconds']:.0f} s, {len(ds)} pairs)", flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in model.state_dict().items() if k.startswith(("stems.", "backbone."))}
    torch.save(keep, output)
    summary = {"pairs": len(ds), "config": pcfg, "history": history, "output": str(output)}
    output.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    from model_export.training.config import load_config

    p = argparse.ArgumentParser(prog="python -m model_export pretrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="a training config (data, model, pretrain)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--output", required=True, help="state dict to write (.pt)")
    p.add_argument("--threads", type=int)
    args = p.parse_args(list(argv) if argv is not None else None)
    pretrain(load_config(args.config, args.overrides), Path(args.output), args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
