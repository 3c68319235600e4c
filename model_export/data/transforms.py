"""Sample transforms that keep optical, SAR and label aligned.

A sample is ``{"optical": [Co,H,W] float32, "sar": [Cs,H,W] float32, "label": [H,W] int64, ...}``.
Geometric transforms apply the same flip / rotation / crop to every array; radiometric jitter
acts per modality in native units, *before* :class:`Normalise`. Randomness comes from torch's
global RNG, which DataLoader seeds per worker, so runs are reproducible under fixed seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn import functional as nnf

from model_export.data.spec import IGNORE_INDEX, DatasetSpec

Sample = dict[str, Any]
MODALITIES = ("optical", "sar")


def _rand() -> float:
    return float(torch.rand(()))


def _spatial(sample: Sample, fn: Callable[[torch.Tensor], torch.Tensor]) -> Sample:
    out = dict(sample)
    for key in (*MODALITIES, "label"):
        if key in out:
            out[key] = fn(out[key])
    return out


class Compose:
    def __init__(self, transforms: Sequence[Callable[[Sample], Sample]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample) -> Sample:
        for t in self.transforms:
            sample = t(sample)
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


class RandomFlip:
    """Horizontal and vertical flips, each with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, sample: Sample) -> Sample:
        if _rand() < self.p:
            sample = _spatial(sample, lambda t: t.flip(-1))
        if _rand() < self.p:
            sample = _spatial(sample, lambda t: t.flip(-2))
        return sample


class RandomRot90:
    """Rotation by k * 90 degrees, k uniform in {0, 1, 2, 3} (no interpolation, labels exact)."""

    def __call__(self, sample: Sample) -> Sample:
        k = int(torch.randint(0, 4, ()))
        return _spatial(sample, lambda t: torch.rot90(t, k, dims=(-2, -1))) if k else sample


class RandomCrop:
    """Random ``size`` x ``size`` window; smaller samples are padded (label with ignore)."""

    def __init__(self, size: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.size, self.ignore_index = int(size), ignore_index

    def __call__(self, sample: Sample) -> Sample:
        h, w = sample["label"].shape[-2:]
        s = self.size
        if h < s or w < s:
            ph, pw = max(s - h, 0), max(s - w, 0)
            out = dict(sample)
            for key in MODALITIES:
                if key in out:
                    out[key] = nnf.pad(out[key], (0, pw, 0, ph))
            out["label"] = nnf.pad(out["label"], (0, pw, 0, ph), value=self.ignore_index)
            sample, h, w = out, h + ph, w + pw
        y = int(torch.randint(0, h - s + 1, ()))
        x = int(torch.randint(0, w - s + 1, ()))
        return _spatial(sample, lambda t: t[..., y:y + s, x:x + s])


class RandomGainOffset:
    """Per-modality random linear rescaling ``v * gain + offset`` (optionally per band).

    Why: OMBRIA's 8-bit rendering stretch is undocumented and analysts' layers will be stretched
    differently, so the model should not depend on one exact stretch. ``offset`` is a fraction of
    the modality's value range; values are clipped back into ``value_range`` (saturation as in a
    real 8-bit rendering). For SAR in dB use ``gain=(1, 1)`` and a small offset (calibration).
    """

    def __init__(self, modality: str, gain: tuple[float, float] = (0.8, 1.25),
                 offset: tuple[float, float] = (-0.1, 0.1),
                 value_range: tuple[float, float] | None = (0.0, 255.0), p: float = 0.8,
                 per_band: bool = True) -> None:
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        self.modality, self.gain, self.offset = modality, gain, offset
        self.value_range, self.p, self.per_band = value_range, p, per_band

    def __call__(self, sample: Sample) -> Sample:
        if self.modality not in sample or _rand() >= self.p:
            return sample
        x = sample[self.modality]
        n = x.shape[0] if self.per_band else 1
        # Log-uniform gain so that x0.8 and x1.25 are equally likely.
        lg = torch.empty(n).uniform_(float(torch.tensor(self.gain[0]).log()),
                                     float(torch.tensor(self.gain[1]).log())).exp()
        span = (self.value_range[1] - self.value_range[0]) if self.value_range else 1.0
        off = torch.empty(n).uniform_(*self.offset) * span
        y = x * lg.view(-1, 1, 1) + off.view(-1, 1, 1)
        if self.value_range is not None:
            y = y.clamp(*self.value_range)
        out = dict(sample)
        out[self.modality] = y
        return out


class Normalise:
    """``(v - mean) / std`` per band, with statistics in native units (see ``stats.py``)."""

    def __init__(self, stats: dict[str, dict[str, Sequence[float]]]) -> None:
        self.stats = {
            m: (torch.tensor(s["mean"], dtype=torch.float32).view(-1, 1, 1),
                torch.tensor(s["std"], dtype=torch.float32).clamp_min(1e-6).view(-1, 1, 1))
            for m, s in stats.items()
        }

    def __call__(self, sample: Sample) -> Sample:
        out = dict(sample)
        for m, (mean, std) in self.stats.items():
            if m in out:
                if out[m].shape[0] != mean.shape[0]:
                    raise ValueError(f"{m}: {out[m].shape[0]} bands but statistics for "
                                     f"{mean.shape[0]}")
                out[m] = (out[m] - mean) / std
        return out


def build_transforms(aug: dict[str, Any] | None, spec: DatasetSpec,
                     stats: dict[str, dict[str, Sequence[float]]] | None, train: bool,
                     ) -> Compose:
    """Transforms from the ``data.augment`` config section; evaluation only normalises.

    Keys: ``flip`` (bool), ``rot90`` (bool), ``crop`` (int or null), ``gain_offset`` (dict per
    modality: ``{"optical": {"gain": [lo, hi], "offset": [lo, hi], "p": 0.8}, "sar": {...}}``),
    ``robust`` (scene-difference augmentations, see ``robust_augment.py``).
    """
    from model_export.data.robust_augment import build_robust

    aug = aug or {}
    ts: list[Callable[[Sample], Sample]] = []
    robust = build_robust(aug.get("robust") if train else None)
    if train:
        ts.extend(robust.geometric)
        if aug.get("crop"):
            ts.append(RandomCrop(int(aug["crop"]), spec.ignore_index))
        if aug.get("flip", True):
            ts.append(RandomFlip())
        if aug.get("rot90", True):
            ts.append(RandomRot90())
        for modality, params in (aug.get("gain_offset") or {}).items():
            if params:
                rng = spec.optical_range if modality == "optical" else spec.sar_range
                ts.append(RandomGainOffset(
                    modality, gain=tuple(params.get("gain", (0.8, 1.25))),
                    offset=tuple(params.get("offset", (-0.1, 0.1))),
                    value_range=tuple(rng) if params.get("clip", True) else None,
                    p=float(params.get("p", 0.8)), per_band=bool(params.get("per_band", True))))
        ts.extend(robust.radiometric)
    if stats:
        ts.append(Normalise(stats))
    ts.extend(robust.normalised)
    return Compose(ts)
