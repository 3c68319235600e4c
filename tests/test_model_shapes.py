"""Shapes, config and registry of the UPSeg models."""

from __future__ import annotations

import pytest
import torch

from model_export.models import (
    UPSegConfig,
    build_model,
    build_model_from_config,
    list_models,
    model_config,
)
from model_export.models.layers import pad_to_multiple

TINY = [n for n in list_models() if n.endswith("tiny") or "_tiny_" in n]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_registry_lists_required_variants() -> None:
    required = {
        "upseg_tiny",
        "upseg_base",
        "upseg_tiny_no_vem",
        "upseg_tiny_no_prompts",
        "optical_only_tiny",
        "sar_only_tiny",
        "early_fusion_tiny",
        "late_fusion_tiny",
        "upseg_dofa_tiny",
        "upseg_dofa_tiny_no_vem",
        "upseg_dofa_tiny_no_prompts",
        "late_fusion_dofa_tiny",
        "upseg_dofa_small",
        "upseg_dofa_base",
        "upseg_dofa_large",
    }
    assert required <= set(list_models())
    assert set(TINY) == required - {"upseg_base", "upseg_dofa_small", "upseg_dofa_base",
                                    "upseg_dofa_large"}


@pytest.mark.parametrize("hw", [(33, 47), (64, 64), (100, 75), (1, 5)])
def test_upseg_output_shape_any_size(hw: tuple[int, int]) -> None:
    model = build_model("upseg_tiny", num_classes=5, init_seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 4, *hw), torch.randn(2, 2, *hw))
    assert out.shape == (2, 5, *hw)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", TINY)
def test_every_tiny_variant_output_shape(name: str) -> None:
    model = build_model(name, in_channels_optical=3, in_channels_sar=1, init_seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 33, 47), torch.randn(1, 1, 33, 47))
    assert out.shape == (1, 7, 33, 47)


def test_crop_keeps_top_left_alignment() -> None:
    # Logits of a padded-size input equal the cropped logits where padding changes nothing:
    # here just check that padding only adds zeros bottom/right.
    x = torch.randn(1, 2, 33, 47)
    p = pad_to_multiple(x, 32)
    assert p.shape[-2:] == (64, 64)
    assert torch.equal(p[..., :33, :47], x)
    assert p[..., 33:, :].abs().sum() == 0 and p[..., :, 47:].abs().sum() == 0


def test_config_roundtrip_is_plain_json() -> None:
    import json

    cfg = model_config("upseg_tiny", num_classes=9, pretrained="/tmp/none.pth")
    data = json.loads(json.dumps(cfg.to_dict()))
    back = UPSegConfig.from_dict(data)
    assert back == cfg
    assert back.dims == (16, 32, 64, 128) and isinstance(back.dims, tuple)
    assert back.variant == "upseg_tiny" and back.num_classes == 9


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="fusion_mode"):
        UPSegConfig(fusion_mode="mid_fusion")
    with pytest.raises(ValueError, match="no prompts or VEM"):
        UPSegConfig(fusion_mode="early_fusion")  # prompts/VEM default on
    with pytest.raises(ValueError, match="unknown"):
        UPSegConfig.from_dict({"num_clases": 3})
    with pytest.raises(KeyError):
        model_config("upseg_huge")


def test_build_from_config_matches_registry() -> None:
    cfg = model_config("late_fusion_tiny", init_seed=3)
    a, b = build_model_from_config(cfg), build_model("late_fusion_tiny", init_seed=3)
    assert type(a) is type(b)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert a.config == cfg
