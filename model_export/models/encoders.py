"""Encoders behind one interface, so UPSeg, its baselines and the decoder do not care which one:

    enc.num_stages                       stages (ConvNeXt) or groups of blocks (ViT)
    enc.stage_dims                       width of each stage's features
    enc.input_multiple                   inputs are padded to a multiple of this
    enc.enter(i, x)                      what comes before stage i's blocks (ConvNeXt downsample)
    enc.run_blocks(i, x)                 stage i's blocks
    enc.as_map(x, grid) / from_map(x, m) the state as an (N, D, h, w) map and back: prompts and
                                         VEM act on both modalities' maps between enter and blocks
    enc.freeze(frozen)

Galileo-nano (models/galileo/) has the same interface on a (N, h, w, groups, D) state; its models
are built by models/galileo/segmentation.py. The modality embedding sits in the model
(`SegmentationModel.embed`): ConvNeXt has one patch stem
per modality, DOFA one shared wavelength-conditioned patch embedding fed each modality's bands.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from .backbone import Backbone
from .bands import wavelengths_for
from .config import UPSegConfig
from .dofa.vit import DofaEncoder


def build_encoder(cfg: UPSegConfig) -> nn.Module:
    if cfg.is_vit:
        assert cfg.vit_dim and cfg.vit_depth and cfg.vit_heads
        return DofaEncoder(dim=cfg.vit_dim, depth=cfg.vit_depth, heads=cfg.vit_heads,
                           mlp_ratio=cfg.mlp_ratio, groups=cfg.vit_groups,
                           weight_order=cfg.dofa_weight_order,
                           drop_path_rate=cfg.drop_path_rate)
    return Backbone(dims=cfg.dims, depths=cfg.depths, mlp_ratio=cfg.mlp_ratio,
                    kernel_size=cfg.kernel_size, layer_scale_init=cfg.layer_scale_init,
                    drop_path_rate=cfg.drop_path_rate)


def modality_wavelengths(cfg: UPSegConfig, modality: str) -> list[float]:
    """Wavelengths (um) of a modality's bands: explicit in the config, else from band names."""
    given = cfg.wavelengths_optical if modality == "optical" else cfg.wavelengths_sar
    if given is not None:
        return list(given)
    names = cfg.optical_bands if modality == "optical" else cfg.sar_bands
    count = cfg.in_channels_optical if modality == "optical" else cfg.in_channels_sar
    if names is None:
        names = _assumed_bands(modality, count)
    if len(names) != count:
        raise ValueError(f"{modality}_bands names {len(names)} bands, the model takes {count}")
    return wavelengths_for(names, modality)


def wavelength_buffer(cfg: UPSegConfig, modality: str) -> torch.Tensor:
    return torch.tensor(modality_wavelengths(cfg, modality), dtype=torch.float32)


# When a model is built without band names (e.g. `model_export info`, a quick experiment), DOFA
# still needs wavelengths: assume the usual orders and say so. Training always passes the
# dataset's band names, so trained models never rely on this.
_DEFAULT_BANDS = {"optical": ("red", "green", "blue", "nir"), "sar": ("vv", "vh")}


def _assumed_bands(modality: str, count: int) -> tuple[str, ...]:
    default = _DEFAULT_BANDS[modality]
    if count > len(default):
        raise ValueError(f"a DOFA model needs the wavelengths of its {count} {modality} bands: "
                         f"set wavelengths_{modality} or {modality}_bands in the model config")
    warnings.warn(f"no {modality} band names given: assuming {', '.join(default[:count])} for "
                  f"the DOFA wavelengths (set {modality}_bands or wavelengths_{modality})",
                  stacklevel=3)
    return default[:count]
