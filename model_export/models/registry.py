"""timm-like registry of named variants: `build_model("upseg_tiny", num_classes=6)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .baselines import MODEL_CLASSES
from .config import UPSegConfig
from .upseg import SegmentationModel

ConfigFactory = Callable[[], dict[str, Any]]
_REGISTRY: dict[str, ConfigFactory] = {}

DEFAULT_MODEL = "upseg_tiny"


def register_model(name: str) -> Callable[[ConfigFactory], ConfigFactory]:
    """Decorator: register a function returning the config fields of variant `name`."""

    def wrap(fn: ConfigFactory) -> ConfigFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    """Names of all registered variants, in registration order."""
    return list(_REGISTRY)


def model_config(name: str, **overrides: Any) -> UPSegConfig:
    """Config of variant `name` with some fields overridden (e.g. num_classes, in_channels_*)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {list_models()}")
    fields = {"variant": name, **_REGISTRY[name]()}
    fields.update(overrides)
    return UPSegConfig.from_dict(fields)


def build_model_from_config(cfg: UPSegConfig, load_pretrained: bool = True) -> SegmentationModel:
    """Build the model class for `cfg.fusion_mode`.

    With `cfg.init_seed` set, weights come from that seed regardless of the global RNG.
    `cfg.pretrained` (a local file) is loaded when `load_pretrained` is true; pass False when
    the weights come from a trained checkpoint anyway.
    """
    cls = MODEL_CLASSES[cfg.fusion_mode]
    if cfg.is_galileo:  # one class for every Galileo row (models/galileo/segmentation.py)
        from .galileo.segmentation import GalileoSeg

        cls = GalileoSeg  # type: ignore[assignment]
    if cfg.init_seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.init_seed)
            model = cls(cfg)
    else:
        model = cls(cfg)
    if cfg.pretrained and load_pretrained:
        model.load_pretrained(cfg.pretrained)
    return model


def build_model(name: str = DEFAULT_MODEL, **overrides: Any) -> SegmentationModel:
    """Build a registered variant: `build_model("upseg_tiny", num_classes=6, init_seed=0)`."""
    return build_model_from_config(model_config(name, **overrides))


# ---------------------------------------------------------------------------------------------
# Variants. Tiny: trains on 2 CPU cores in minutes on 256x256 patches; the shipped default.
_TINY: dict[str, Any] = {
    "dims": (16, 32, 64, 128),
    "depths": (1, 1, 2, 1),
    "mlp_ratio": 3.0,
    "layer_scale_init": 0.1,  # trained from scratch: blocks contribute from the start
    "vem_head_dim": 8,
    "decoder_dim": 64,
}
_NO_UPSEG_PARTS: dict[str, Any] = {"use_prompts": False, "use_vem": False}


@register_model("upseg_tiny")
def _upseg_tiny() -> dict[str, Any]:
    return dict(_TINY)


@register_model("upseg_base")
def _upseg_base() -> dict[str, Any]:
    # ConvNeXt-T layout (timm `convnext_tiny` keys load into the backbone); for GPUs.
    return {
        "dims": (96, 192, 384, 768),
        "depths": (3, 3, 9, 3),
        "mlp_ratio": 4.0,
        "layer_scale_init": 1e-6,
        "drop_path_rate": 0.1,
        "vem_head_dim": 32,
        "decoder_dim": 256,
    }


@register_model("upseg_tiny_no_vem")
def _upseg_tiny_no_vem() -> dict[str, Any]:
    return {**_TINY, "use_vem": False}


@register_model("upseg_tiny_no_prompts")
def _upseg_tiny_no_prompts() -> dict[str, Any]:
    return {**_TINY, "use_prompts": False}


@register_model("optical_only_tiny")
def _optical_only_tiny() -> dict[str, Any]:
    return {**_TINY, **_NO_UPSEG_PARTS, "fusion_mode": "optical_only"}


@register_model("sar_only_tiny")
def _sar_only_tiny() -> dict[str, Any]:
    return {**_TINY, **_NO_UPSEG_PARTS, "fusion_mode": "sar_only"}


@register_model("early_fusion_tiny")
def _early_fusion_tiny() -> dict[str, Any]:
    return {**_TINY, **_NO_UPSEG_PARTS, "fusion_mode": "early_fusion"}


@register_model("late_fusion_tiny")
def _late_fusion_tiny() -> dict[str, Any]:
    return {**_TINY, **_NO_UPSEG_PARTS, "fusion_mode": "late_fusion"}


# ---------------------------------------------------------------------------------------------
# UPSeg-DOFA: the paper's setting, a DOFA ViT (patch 16) shared by both modalities, prompts and a
# cross-attention VEM before each of 4 groups of blocks, a multi-scale neck. The published sizes
# load DOFA checkpoints (`pretrained: path`); freeze_backbone=True is visual prompt tuning.
_DOFA_HEAD: dict[str, Any] = {"mlp_ratio": 4.0, "decoder_dim": 256, "neck_dim": 256,
                              "vem_head_dim": 64, "prompt_reduction": 8, "drop_path_rate": 0.1}


@register_model("upseg_dofa_small")
def _upseg_dofa_small() -> dict[str, Any]:
    return {**_DOFA_HEAD, "encoder": "dofa_small", "neck_dim": 128, "decoder_dim": 128}


@register_model("upseg_dofa_base")
def _upseg_dofa_base() -> dict[str, Any]:
    return {**_DOFA_HEAD, "encoder": "dofa_base"}


@register_model("upseg_dofa_large")
def _upseg_dofa_large() -> dict[str, Any]:
    return {**_DOFA_HEAD, "encoder": "dofa_large"}


# A DOFA-architecture model small enough to train from scratch on 2 CPU cores (NOT pretrained;
# the smoke run and the ablation use it).
_DOFA_TINY: dict[str, Any] = {
    "encoder": "dofa", "vit_dim": 96, "vit_depth": 4, "vit_heads": 3, "mlp_ratio": 3.0,
    "neck_dim": 48, "decoder_dim": 64, "vem_head_dim": 32, "prompt_reduction": 4,
}


@register_model("upseg_dofa_tiny")
def _upseg_dofa_tiny() -> dict[str, Any]:
    return dict(_DOFA_TINY)


@register_model("upseg_dofa_tiny_no_vem")
def _upseg_dofa_tiny_no_vem() -> dict[str, Any]:
    return {**_DOFA_TINY, "use_vem": False}


@register_model("upseg_dofa_tiny_no_prompts")
def _upseg_dofa_tiny_no_prompts() -> dict[str, Any]:
    return {**_DOFA_TINY, "use_prompts": False}


@register_model("late_fusion_dofa_tiny")
def _late_fusion_dofa_tiny() -> dict[str, Any]:
    return {**_DOFA_TINY, **_NO_UPSEG_PARTS, "fusion_mode": "late_fusion"}


# ---------------------------------------------------------------------------------------------
# Galileo-nano (pretrained S1 + S2 encoder, models/galileo/): the published weights are loaded
# from ../shared/models/galileo_nano/encoder.pt unless `pretrained` is overridden.
def _galileo(**fields: Any) -> dict[str, Any]:
    from .encoder_weights import default_path, encoder_weights

    return {"encoder": "galileo_nano", "pretrained": str(default_path(
        encoder_weights("galileo_nano"))), "freeze_backbone": True, "vem_head_dim": 32,
        "decoder_dim": 32, "prompt_reduction": 4, "galileo_patch_size": 8, **fields}


@register_model("upseg_galileo_nano")
def _upseg_galileo_nano() -> dict[str, Any]:
    return _galileo()  # prompt tuning: only prompts, VEM, input bridge and decoder train


@register_model("upseg_galileo_nano_ft")
def _upseg_galileo_nano_ft() -> dict[str, Any]:
    return _galileo(freeze_backbone=False)  # full fine-tuning


@register_model("upseg_galileo_nano_no_vem")
def _upseg_galileo_nano_no_vem() -> dict[str, Any]:
    return _galileo(use_vem=False)


@register_model("galileo_nano_linear")
def _galileo_nano_linear() -> dict[str, Any]:
    return _galileo(**_NO_UPSEG_PARTS, fusion_mode="early_fusion", galileo_head="linear")


@register_model("galileo_nano_late_fusion")
def _galileo_nano_late_fusion() -> dict[str, Any]:
    return _galileo(**_NO_UPSEG_PARTS, fusion_mode="late_fusion")
