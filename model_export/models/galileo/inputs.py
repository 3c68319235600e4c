"""From the model's inputs (the dataset's units, normalised with its training statistics, as the
plugin feeds them) to Galileo's units and groups, inside the model so exported graphs hold it.

Per band: native = x * std + mean (undo the dataset normalisation), then the dataset's stated
rendering conversion (export/renderings.py; for OMBRIA 8-bit true colour = 0.06375 x reflectance
x 10000, 8-bit SAR = 6.636 dB + 233.7) gives Galileo's raw units; both are one affine per band,
folded into buffers set once from the training statistics (`set_input_statistics`).

Bands a dataset lacks stay absent: their groups take no part (no invented bands). The S1 group
takes VV and VH together; with one SAR band the `sar_bridge` says how VH is formed:
  "vh_offset"  VH = VV - 6 dB, a stated estimate (typical C-band cross-pol ratio over land);
  "learned"    VV' = a VV + b, VH = c VV + d (dB), learned, starting at VV and VV - 6 dB.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .spec import SPACE_TIME_GROUPS, complete_groups, resolve_bands

if TYPE_CHECKING:
    from ..config import UPSegConfig

SAR_BRIDGES: tuple[str, ...] = ("vh_offset", "learned")
VH_MINUS_VV_DB = -6.0
# dataset units -> the conversion (in renderings.py) that leads to Galileo's raw units
_TARGET = {"optical": "reflectance_x10000", "sar": "sar_db"}


def native_to_galileo(dataset: str, units: str, modality: str) -> tuple[float, float]:
    """(scale, offset) with galileo_raw = scale * native + offset, from the stated rendering."""
    if units == _TARGET[modality]:
        return 1.0, 0.0
    from model_export.export.renderings import RENDERINGS

    for conv in RENDERINGS.get(dataset, {}).get(modality, {}).get("conversions", []):
        if conv["from"] == _TARGET[modality] and not conv.get("to_db"):
            s, o = float(conv["scale"]), float(conv["offset"])  # native = s * raw + o
            return 1.0 / s, -o / s
    raise ValueError(f"{dataset} {modality} in {units!r}: no stated conversion to "
                     f"{_TARGET[modality]} (export/renderings.py); Galileo needs S2 as "
                     "reflectance x 10000 and S1 in dB")


class GalileoInputs(nn.Module):
    """`forward(optical, sar)` -> {group: (N, C_g, H, W) in raw Galileo units} for the groups
    the model's bands complete (S1 through the bridge when only VV is given)."""

    def __init__(self, optical_bands: Sequence[str], sar_bands: Sequence[str],
                 sar_bridge: str = "vh_offset") -> None:
        super().__init__()
        if sar_bridge not in SAR_BRIDGES:
            raise ValueError(f"sar_bridge must be one of {SAR_BRIDGES}, got {sar_bridge!r}")
        self.optical_bands = resolve_bands(optical_bands)
        self.sar_bands = resolve_bands(sar_bands)
        self.bridge = sar_bridge if self.sar_bands == ["VV"] else "none"
        sar_full = ["VV", "VH"] if self.bridge != "none" else self.sar_bands
        self.optical_groups = complete_groups(self.optical_bands)
        self.sar_groups = complete_groups(sar_full)
        if "S1" in self.optical_groups or self.sar_groups != ["S1"]:
            raise ValueError("S1 bands (VV, VH) go in sar_bands, S2 bands in optical_bands")
        self._sar_full = sar_full
        for m, n in (("optical", len(self.optical_bands)), ("sar", len(self.sar_bands))):
            self.register_buffer(f"{m}_scale", torch.ones(n))
            self.register_buffer(f"{m}_offset", torch.zeros(n))
        if self.bridge == "learned":  # rows: VV', VH as (gain, offset in dB) of VV
            self.bridge_gain = nn.Parameter(torch.ones(2))
            self.bridge_offset = nn.Parameter(torch.tensor([0.0, VH_MINUS_VV_DB]))

    @property
    def groups(self) -> list[str]:
        """Present groups in Galileo's order (S1 first)."""
        return [*self.sar_groups, *self.optical_groups]

    def set_input_statistics(self, normalisation: Mapping[str, Mapping[str, Any]],
                             dataset: str, units: Mapping[str, str]) -> None:
        """Fold "undo the dataset normalisation" and "rendering -> Galileo units" into buffers."""
        for m in ("optical", "sar"):
            mean = torch.tensor([float(v) for v in normalisation[m]["mean"]])
            std = torch.tensor([float(v) for v in normalisation[m]["std"]])
            a, b = native_to_galileo(dataset, units[m], m)
            getattr(self, f"{m}_scale").copy_(a * std)
            getattr(self, f"{m}_offset").copy_(a * mean + b)

    @staticmethod
    def _affine(x: Tensor, scale: Tensor, offset: Tensor) -> Tensor:
        return x * scale.view(1, -1, 1, 1) + offset.view(1, -1, 1, 1)

    def _sar(self, sar: Tensor) -> Tensor:
        x = self._affine(sar, self.sar_scale, self.sar_offset)
        if self.bridge == "vh_offset":
            return torch.cat([x, x + VH_MINUS_VV_DB], dim=1)
        if self.bridge == "learned":
            return x * self.bridge_gain.view(1, 2, 1, 1) + self.bridge_offset.view(1, 2, 1, 1)
        return x

    def forward(self, optical: Tensor, sar: Tensor) -> tuple[dict[str, Tensor], list[str]]:
        """Raw-unit tensors per group and the band order of their concatenation."""
        opt = self._affine(optical, self.optical_scale, self.optical_offset)
        out = {}
        for g in self.sar_groups:
            x = self._sar(sar)
            out[g] = x[:, [self._sar_full.index(b) for b in SPACE_TIME_GROUPS[g]]]
        for g in self.optical_groups:
            out[g] = opt[:, [self.optical_bands.index(b) for b in SPACE_TIME_GROUPS[g]]]
        bands = [b for g in out for b in SPACE_TIME_GROUPS[g]]
        return out, bands


# Without band names (e.g. `model_export info`): the usual orders, said aloud. Training always
# passes the dataset's band names.
_ASSUMED = {"optical": ("blue", "green", "red", "nir"), "sar": ("VV", "VH")}


def galileo_inputs(cfg: UPSegConfig) -> GalileoInputs:
    """The input mapping of a Galileo model config."""
    names = {}
    for m, given, count in (("optical", cfg.optical_bands, cfg.in_channels_optical),
                            ("sar", cfg.sar_bands, cfg.in_channels_sar)):
        if given is None:
            given = _ASSUMED[m][:count]
            warnings.warn(f"no {m} band names given: assuming {', '.join(given)} for Galileo",
                          stacklevel=3)
        if len(given) != count:
            raise ValueError(f"{m}_bands names {len(given)} bands, the model takes {count}")
        names[m] = given
    return GalileoInputs(names["optical"], names["sar"], cfg.sar_bridge)
