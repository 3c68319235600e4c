"""Augmentations for what differs between the training scenes and an analyst's scene.

OMBRIA is one rendering of a few dozen flood scenes; an analyst brings Sentinel-2 L1C or L2A
(top-of-atmosphere haze in blue, another stretch), Sentinel-1 in dB from another orbit and
incidence angle, speckle-filtered or not, resampled from 20 m, with clouds and edges of nodata.
Each transform here simulates one of those differences on a sample in native 8-bit units
(``nodata`` acts on normalised inputs, where 0 is what the plugin feeds for missing pixels).
The ranges are in ``configs/*.yaml`` (``data.augment.robust``); ``docs/validation.md`` says which
measurements they come from. Randomness from torch's global RNG, like ``transforms.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as nnf

from model_export.data.spec import IGNORE_INDEX

Sample = dict[str, Any]
Transform = Callable[[Sample], Sample]


def _u(lo: float, hi: float) -> float:
    return float(torch.empty(()).uniform_(float(lo), float(hi)))


def _log_u(lo: float, hi: float) -> float:
    return math.exp(_u(math.log(lo), math.log(hi)))


def _hit(p: float) -> bool:
    return float(torch.rand(())) < p


def _smooth_field(h: int, w: int, cells: int) -> torch.Tensor:
    """Smooth random field in [0, 1] of shape [h, w] (bilinear upsampling of coarse noise)."""
    coarse = torch.rand(1, 1, cells, cells)
    f = nnf.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0, 0]
    f = f - f.min()
    return f / f.max().clamp_min(1e-6)


@dataclass
class RandomZoom:
    """Ground sample distance from 10 m to ``10 / scale`` m: both modalities resampled, label
    nearest. scale 2 = 5 m pixels (objects twice as large), 0.5 = 20 m."""

    scale: tuple[float, float] = (0.5, 2.0)
    p: float = 0.5

    def __call__(self, s: Sample) -> Sample:
        if not _hit(self.p):
            return s
        z = _log_u(*self.scale)
        h, w = s["label"].shape[-2:]
        size = (max(8, round(h * z)), max(8, round(w * z)))
        out = dict(s)
        for key in ("optical", "sar"):
            out[key] = nnf.interpolate(s[key][None], size=size, mode="bilinear",
                                       align_corners=False, antialias=z < 1)[0]
        lab = s["label"][None, None].float()
        out["label"] = nnf.interpolate(lab, size=size, mode="nearest")[0, 0].long()
        return out


@dataclass
class RandomBlur:
    """One modality at coarser resolution than the grid it is on (e.g. SAR at 20 m warped onto
    10 m optical): down by ``factor`` and back up."""

    modality: str
    factor: tuple[float, float] = (1.0, 2.0)
    p: float = 0.3

    def __call__(self, s: Sample) -> Sample:
        if not _hit(self.p):
            return s
        f = _u(*self.factor)
        x = s[self.modality][None]
        h, w = x.shape[-2:]
        small = nnf.interpolate(x, size=(max(4, round(h / f)), max(4, round(w / f))),
                                mode="bilinear", align_corners=False, antialias=True)
        out = dict(s)
        out[self.modality] = nnf.interpolate(small, size=(h, w), mode="bilinear",
                                             align_corners=False)[0]
        return out


@dataclass
class RandomGamma:
    """``255 * (v / 255) ** gamma``: a non-linear stretch (another rendering script)."""

    modality: str
    gamma: tuple[float, float] = (0.7, 1.4)
    p: float = 0.5

    def __call__(self, s: Sample) -> Sample:
        if not _hit(self.p):
            return s
        out = dict(s)
        out[self.modality] = 255.0 * (s[self.modality].clamp(0, 255) / 255.0) ** _log_u(
            *self.gamma)
        return out


@dataclass
class RandomHaze:
    """Top-of-atmosphere path radiance and transmission: ``v * t + a * weight[band]``.

    Sentinel-2 L1C is hazier than the surface reflectance OMBRIA looks like, most in blue: the
    Sen1Floods11 L1C chip's darkest 1 % sits 35-50 grey levels above OMBRIA's in every band
    once converted. ``weights`` are per band in model order (red, green, blue)."""

    amount: tuple[float, float] = (0.0, 55.0)
    weights: tuple[float, ...] = (0.7, 0.85, 1.0)
    transmission: tuple[float, float] = (0.8, 1.0)
    p: float = 0.5

    def __call__(self, s: Sample) -> Sample:
        if not _hit(self.p):
            return s
        x = s["optical"]
        w = torch.tensor(self.weights[: x.shape[0]], dtype=x.dtype).view(-1, 1, 1)
        out = dict(s)
        out["optical"] = x * _u(*self.transmission) + _u(*self.amount) * w
        return out


@dataclass
class RandomCloud:
    """Partial cloud (bright, soft-edged) and optionally its shadow on the optical image; the
    label stays, since the SAR sees through (the model must lean on it there)."""

    cover: tuple[float, float] = (0.05, 0.6)
    brightness: tuple[float, float] = (160.0, 255.0)
    shadow: float = 0.5
    p: float = 0.3

    def __call__(self, s: Sample) -> Sample:
        if not _hit(self.p):
            return s
        x = s["optical"]
        h, w = x.shape[-2:]
        f = _smooth_field(h, w, int(torch.randint(3, 7, ())))
        thr = torch.quantile(f.flatten(), 1.0 - _u(*self.cover))
        alpha = ((f - thr) / 0.15).clamp(0, 1) * _u(0.6, 1.0)
        y = x
        if _hit(self.shadow):
            dy, dx = int(torch.randint(-h // 6, h // 6 + 1, ())), int(
                torch.randint(-w // 6, w // 6 + 1, ()))
            shade = torch.roll(alpha, (dy, dx), (0, 1))
            y = y * (1 - shade * _u(0.3, 0.6))
        colour = _u(*self.brightness) + torch.empty(x.shape[0], 1, 1).uniform_(-10, 10)
        out = dict(s)
        out["optical"] = y * (1 - alpha) + colour * alpha
        return out


@dataclass
class RandomSpeckle:
    """More speckle (fewer looks) or less (a speckle filter) on the SAR.

    In an 8-bit rendering linear in dB, multiplicative speckle is additive:
    ``db_scale * 10 log10(G)``, G ~ Gamma(L, 1/L). ``db_scale`` grey levels per dB (6.6 for the
    assumed OMBRIA stretch)."""

    looks: tuple[float, float] = (3.0, 12.0)
    db_scale: float = 6.6
    smooth: float = 0.3  # probability of a 3x3 / 5x5 mean filter instead of extra speckle
    p: float = 0.4

    def __call__(self, s: Sample) -> Sample:
        if not _hit(self.p):
            return s
        x = s["sar"]
        out = dict(s)
        if _hit(self.smooth):
            k = 3 if _hit(0.5) else 5
            out["sar"] = nnf.avg_pool2d(x[None], k, 1, k // 2, count_include_pad=False)[0]
            return out
        looks = _u(*self.looks)
        g = torch.distributions.Gamma(looks, looks).sample(x.shape).clamp_min(1e-4)
        out["sar"] = x + self.db_scale * 10.0 * torch.log10(g)
        return out


@dataclass
class RandomIncidence:
    """Brightness of another incidence angle: a global shift plus a gentle ramp across the
    patch, in grey levels (6.6 per dB: +-2 dB shift, +-1 dB ramp by default)."""

    shift: float = 13.0
    ramp: float = 6.6
    p: float = 0.5

    def __call__(self, s: Sample) -> Sample:
        if not _hit(self.p):
            return s
        x = s["sar"]
        h, w = x.shape[-2:]
        angle = _u(0, 2 * math.pi)
        yy = torch.linspace(-0.5, 0.5, h).view(h, 1)
        xx = torch.linspace(-0.5, 0.5, w).view(1, w)
        ramp = (math.cos(angle) * xx + math.sin(angle) * yy) * 2 * _u(-self.ramp, self.ramp)
        out = dict(s)
        out["sar"] = x + _u(-self.shift, self.shift) + ramp
        return out


@dataclass
class Clip:
    """Back into the 8-bit range after the radiometric changes (saturation, as in rendering)."""

    lo: float = 0.0
    hi: float = 255.0

    def __call__(self, s: Sample) -> Sample:
        out = dict(s)
        for key in ("optical", "sar"):
            out[key] = s[key].clamp(self.lo, self.hi)
        return out


@dataclass
class RandomNodata:
    """A region missing in one modality or both (swath edge, scene border), on *normalised*
    inputs: filled with 0 as the plugin does, and ignored in the label, where the plugin writes
    nodata."""

    cover: tuple[float, float] = (0.1, 0.5)
    p: float = 0.2

    def __call__(self, s: Sample) -> Sample:
        if not _hit(self.p):
            return s
        h, w = s["label"].shape[-2:]
        angle = _u(0, 2 * math.pi)
        yy = torch.arange(h).view(h, 1) - h / 2
        xx = torch.arange(w).view(1, w) - w / 2
        proj = math.cos(angle) * xx + math.sin(angle) * yy
        gone = proj > torch.quantile(proj.flatten().float(), 1.0 - _u(*self.cover))
        which = int(torch.randint(0, 3, ()))  # 0 optical, 1 SAR, 2 both
        out = dict(s)
        for k, key in enumerate(("optical", "sar")):
            if which in (k, 2):
                out[key] = s[key].masked_fill(gone, 0.0)
        out["label"] = s["label"].masked_fill(gone, IGNORE_INDEX)
        return out


@dataclass
class RobustParts:
    geometric: list[Transform] = field(default_factory=list)  # before cropping
    radiometric: list[Transform] = field(default_factory=list)  # native units
    normalised: list[Transform] = field(default_factory=list)  # after Normalise


_BUILDERS: dict[str, tuple[str, Callable[..., Transform]]] = {
    "zoom": ("geometric", RandomZoom),
    "blur_sar": ("radiometric", lambda **k: RandomBlur("sar", **k)),
    "blur_optical": ("radiometric", lambda **k: RandomBlur("optical", **k)),
    "haze": ("radiometric", RandomHaze),
    "gamma_optical": ("radiometric", lambda **k: RandomGamma("optical", **k)),
    "gamma_sar": ("radiometric", lambda **k: RandomGamma("sar", **k)),
    "cloud": ("radiometric", RandomCloud),
    "speckle": ("radiometric", RandomSpeckle),
    "incidence": ("radiometric", RandomIncidence),
    "nodata": ("normalised", RandomNodata),
}


def build_robust(cfg: dict[str, Any] | None) -> RobustParts:
    """Transforms from ``data.augment.robust``: ``{name: {param: value, ...}}`` for the names
    of ``_BUILDERS``; lists become tuples. Unknown names are an error (typos must not pass)."""
    parts = RobustParts()
    for name, params in (cfg or {}).items():
        if name not in _BUILDERS:
            raise ValueError(f"unknown robust augmentation {name!r}; known: {sorted(_BUILDERS)}")
        if params is None or params is False:
            continue
        where, make = _BUILDERS[name]
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(params).items()}
        getattr(parts, where).append(make(**kwargs))
    if parts.radiometric:
        parts.radiometric.append(Clip())
    return parts
