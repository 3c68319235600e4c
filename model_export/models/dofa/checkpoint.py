"""Load published DOFA weights from a local file into a `DofaEncoder`.

Accepted layouts (names and shapes as in DOFA's repository and torchgeo's `dofa.py`):

* torchgeo (`DOFABase16_Weights.DOFA_MAE`, `DOFALarge16_Weights.DOFA_MAE`, or a torchgeo DOFA
  model's `state_dict()`): a plain dict of encoder tensors `patch_embed.*`, `cls_token`,
  `pos_embed`, `blocks.N.*`, possibly `fc_norm.*` / `head.*` of a classifier;
* DOFA's authors (MAE pre-training checkpoints): the same encoder names, possibly under a
  `model` / `state_dict` key, next to the MAE decoder (`decoder_*`, `mask_token`) and the
  encoder's final `norm.*`.

Wrappers and prefixes (`module.`, `backbone.`, `encoder.`) are removed first. Tensors that are not
part of the encoder are reported as unexpected, never loaded. A position table for another
pre-training size is resampled to this encoder's grid. Nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from ..backbone import read_state_dict
from ..load_report import LoadReport, PretrainedLoadError
from .vit import DofaEncoder

MAE_PREFIXES = ("decoder_", "mask_token")
PATCH_KEY = "patch_embed.weight_generator.fc_weight.weight"
VIT_MARKERS = ("blocks.0.attn.qkv.weight", "patch_embed.weight_generator.fc_weight.weight")


def _resample_pos(table: Tensor, grid: int) -> Tensor:
    """(1, 1 + g*g, D) -> (1, 1 + grid*grid, D), bicubic on the patch part."""
    cls, patches = table[:, :1], table[:, 1:]
    g = int(round(patches.shape[1] ** 0.5))
    m = patches.reshape(1, g, g, -1).permute(0, 3, 1, 2)
    m = F.interpolate(m, size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([cls, m.flatten(2).transpose(1, 2)], dim=1)


def describe_layout(state: dict[str, Tensor]) -> str:
    if any(k.startswith(MAE_PREFIXES) for k in state):
        return "DOFA authors' MAE checkpoint (encoder + MAE decoder)"
    if any(k.startswith(("fc_norm.", "head.")) for k in state):
        return "torchgeo DOFA model state dict (encoder + classifier head)"
    return "encoder-only state dict (torchgeo DOFABase16/Large16 weights layout)"


def match_state(encoder: DofaEncoder, state: dict[str, Tensor], name: str, source: str
                ) -> tuple[dict[str, Tensor], LoadReport]:
    """Which checkpoint tensors load into `encoder` (pure: nothing is copied)."""
    own = encoder.state_dict()
    report = LoadReport(encoder=name, source=source, total=len(own))
    report.notes.append(f"layout: {describe_layout(state)}")
    usable: dict[str, Tensor] = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
            continue
        if key == "pos_embed" and value.ndim == 3 and value.shape != own[key].shape \
                and value.shape[-1] == own[key].shape[-1]:
            value = _resample_pos(value.float(), encoder.base_grid)
            report.notes.append(f"pos_embed resampled from {tuple(state[key].shape)} to "
                                f"{tuple(value.shape)}")
        if value.shape != own[key].shape:
            report.mismatched.append(key)
            if len(report.mismatched) <= 4:  # a few shapes say enough (all keys are listed)
                report.notes.append(f"{key}: checkpoint {tuple(value.shape)}, encoder "
                                    f"{tuple(own[key].shape)}")
            continue
        usable[key] = value
    report.loaded = sorted(usable)
    report.missing = sorted(k for k in own if k not in usable)
    report.unexpected.sort()
    report.notes.append(
        f"patch-embedding filter order: {encoder.patch_embed.weight_order} (band_major: torchgeo "
        ">= 0.6 and the DOFA weights retrained in 2024; legacy: earlier releases)")
    return usable, report


def load_dofa_weights(encoder: DofaEncoder, path: str | Path, *, name: str = "dofa",
                      allow_partial: bool = False, verbose: bool = True) -> LoadReport:
    """Load, print the report, and refuse (PretrainedLoadError) below 95 % coverage unless
    `allow_partial`. The encoder is left untouched when the load is refused."""
    state = read_state_dict(path)
    usable, report = match_state(encoder, state, name, str(path))
    if verbose:
        print(report.text(), flush=True)
    hint = ""
    if not any(k in state for k in VIT_MARKERS) and any(k.startswith("stages.") for k in state):
        hint = "This looks like a ConvNeXt checkpoint (stages.N.*): use the convnext encoder."
    report.enforce(allow_partial, hint=hint)
    if PATCH_KEY in report.mismatched and not allow_partial:
        # The rest may load, but a patch embedding for another kernel (e.g. DOFA v2, patch 14)
        # makes every token wrong: never call that pretrained by accident.
        raise PretrainedLoadError(
            f"{path}: the wavelength weight generator's output layer ({PATCH_KEY}) does not fit "
            f"this patch-{encoder.patch_size} encoder (another patch size, e.g. DOFA v2 with "
            "patch 14?); pass allow_partial to load the rest anyway.\n" + report.text())
    encoder.load_state_dict(usable, strict=False)
    return report
