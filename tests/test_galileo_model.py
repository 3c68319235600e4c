"""UPSeg-Galileo's parts: the raw-unit input mapping (OMBRIA renderings -> dB / reflectance x
10000 by the stated conversions, missing bands left absent, the S1 bridge), which parameters
train in each mode, and what each fusion mode lets through. Random encoder weights (no
checkpoint needed); inputs are SYNTHETIC."""

from __future__ import annotations

import pytest
import torch

from model_export.models import build_model
from model_export.models.galileo.inputs import GalileoInputs

pytestmark = pytest.mark.usefixtures("torch_one_thread")

OMBRIA = {"num_classes": 2, "in_channels_optical": 3, "in_channels_sar": 1,
          "optical_bands": ["red", "green", "blue"], "sar_bands": ["sar"], "pretrained": None,
          "init_seed": 0, "galileo_patch_size": 4}
NORM = {"optical": {"mean": [60.0, 70.0, 80.0], "std": [30.0, 25.0, 20.0]},
        "sar": {"mean": [150.0], "std": [40.0]}}
UNITS = {"optical": "uint8_rendering", "sar": "uint8_rendering"}


def _normalised(value: float, mean: float, std: float) -> torch.Tensor:
    return torch.full((1, 1, 4, 4), (value - mean) / std)


def test_ombria_renderings_reach_galileo_units_by_the_stated_conversions() -> None:
    inputs = GalileoInputs(["red", "green", "blue"], ["sar"], "vh_offset")
    inputs.set_input_statistics(NORM, "ombria", UNITS)
    assert inputs.groups == ["S1", "S2_RGB"]  # NIR, red edge, SWIR stay absent
    optical = torch.cat([_normalised(63.75, 60, 30), _normalised(127.5, 70, 25),
                         _normalised(25.5, 80, 20)], dim=1)  # red, green, blue 8-bit
    sar = _normalised(101.0, 150, 40)  # OMBRIA's median water grey level
    groups, bands = inputs(optical, sar)
    assert bands == ["VV", "VH", "B2", "B3", "B4"]
    assert groups["S1"][0, :, 0, 0].tolist() == pytest.approx([-20.0, -26.0], abs=1e-3)
    # 8-bit = 0.06375 x reflectance x 10000; Galileo's order is B2 (blue), B3, B4 (red)
    assert groups["S2_RGB"][0, :, 0, 0].tolist() == pytest.approx([400.0, 2000.0, 1000.0],
                                                                  rel=1e-5)


def test_learned_bridge_starts_at_the_stated_estimate_and_trains() -> None:
    fixed = GalileoInputs(["red", "green", "blue"], ["sar"], "vh_offset")
    learned = GalileoInputs(["red", "green", "blue"], ["sar"], "learned")
    x, s = torch.randn(2, 3, 4, 4), torch.randn(2, 1, 4, 4)
    assert torch.allclose(fixed(x, s)[0]["S1"], learned(x, s)[0]["S1"])
    assert [n for n, p in learned.named_parameters()] == ["bridge_gain", "bridge_offset"]
    both = GalileoInputs(["B2", "B3", "B4"], ["VV", "VH"], "learned")
    assert both.bridge == "none" and not list(both.parameters())  # VH given: no bridge


def test_a_dataset_without_a_stated_conversion_is_refused() -> None:
    inputs = GalileoInputs(["red", "green", "blue"], ["sar"])
    with pytest.raises(ValueError, match="no stated conversion"):
        inputs.set_input_statistics(NORM, "whu_opt_sar_unknown", UNITS)


@pytest.mark.parametrize(("name", "encoder_trains"), [("upseg_galileo_nano", False),
                                                       ("upseg_galileo_nano_ft", True)])
def test_prompt_tuning_trains_only_prompts_vem_and_head(name: str, encoder_trains: bool) -> None:
    model = build_model(name, **OMBRIA)
    model(torch.randn(2, 3, 16, 12), torch.randn(2, 1, 16, 12)).square().mean().backward()
    enc_grads = [p.grad is not None for p in model.backbone.blocks.parameters()]
    assert all(enc_grads) if encoder_trains else not any(enc_grads)
    for part in (model.prompts, model.vem, model.head):
        assert all(p.grad is not None for p in part.parameters() if p.requires_grad)


def test_fusion_modes_route_information_as_stated() -> None:
    torch.manual_seed(0)
    opt, sar = torch.randn(1, 3, 16, 16), torch.randn(1, 1, 16, 16)
    opt2 = opt + torch.randn_like(opt)
    maps = {}
    for name in ("galileo_nano_late_fusion", "galileo_nano_linear", "upseg_galileo_nano"):
        model = build_model(name, **OMBRIA).eval()
        with torch.no_grad():
            maps[name] = [model.token_maps(o, sar) for o in (opt, opt2)]
    late = maps["galileo_nano_late_fusion"]
    assert torch.equal(late[0][1], late[1][1])  # late fusion: SAR tokens never see optical
    joint = maps["galileo_nano_linear"]
    assert not torch.allclose(joint[0][1], joint[1][1])  # joint attention: they do
    # prompts and VEM start small (init_scale 1e-2): the frozen encoder's tokens barely move
    up, base = maps["upseg_galileo_nano"][0][1], joint[0][1]
    rel = ((up - base).abs().max() / base.abs().max()).item()
    assert 0 < rel < 0.1


def test_bands_in_the_wrong_modality_are_refused() -> None:
    with pytest.raises(ValueError, match="S1 bands .* go in sar_bands"):
        GalileoInputs(["VV", "VH", "B2", "B3", "B4"], ["VV"])
    with pytest.raises(ValueError, match="S1 needs all of VV, VH"):
        GalileoInputs(["B2", "B3", "B4"], ["VH"])
