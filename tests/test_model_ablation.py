"""Ablation switches: prompts / VEM off change the output and remove exactly their parameters."""

from __future__ import annotations

import pytest
import torch

from model_export.models import UPSeg, build_model, count_parameters

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def full() -> UPSeg:
    model = build_model("upseg_tiny", init_seed=0).eval()
    assert isinstance(model, UPSeg)
    return model


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.randn(2, 4, 48, 40, generator=g), torch.randn(2, 2, 48, 40, generator=g)


@pytest.mark.parametrize(
    ("name", "removed"),
    [
        ("upseg_tiny_no_prompts", ("prompts",)),
        ("upseg_tiny_no_vem", ("vem",)),
        ("late_fusion_tiny", ("prompts", "vem")),
    ],
)
def test_switch_off_removes_exactly_its_parameters_and_changes_output(
    full: UPSeg, inputs: tuple[torch.Tensor, torch.Tensor], name: str, removed: tuple[str, ...]
) -> None:
    ablated = build_model(name, init_seed=0).eval()
    removed_params = sum(count_parameters(getattr(full, part)) for part in removed)
    assert removed_params > 0
    assert count_parameters(ablated) == count_parameters(full) - removed_params
    for part in removed:
        assert getattr(ablated, part) is None

    # Same weights for everything the two share: the only difference is the removed parts.
    result = ablated.load_state_dict(full.state_dict(), strict=False)
    assert result.missing_keys == []
    assert {k.split(".")[0] for k in result.unexpected_keys} == set(removed)
    with torch.no_grad():
        y_full, y_ablated = full(*inputs), ablated(*inputs)
    assert y_full.shape == y_ablated.shape
    diff = float((y_full - y_ablated).abs().max())
    assert diff > 1e-4 * float(y_full.abs().max()), diff


def test_both_switches_off_is_late_fusion(full: UPSeg) -> None:
    plain = build_model("upseg_tiny", use_prompts=False, use_vem=False, init_seed=0)
    late = build_model("late_fusion_tiny", init_seed=0)
    assert count_parameters(plain) == count_parameters(late)
    assert plain.state_dict().keys() == late.state_dict().keys()


def test_prompts_start_small_but_not_zero(
    full: UPSeg, inputs: tuple[torch.Tensor, torch.Tensor]
) -> None:
    # Small-scale init: the prompt is a small perturbation of the backbone stream.
    assert full.prompts is not None
    with torch.no_grad():
        x = torch.randn(1, 16, 8, 8)
        p = full.prompts[0].sar_to_optical(torch.randn(1, 16, 8, 8), x)
    ratio = float(p.norm() / x.norm())
    assert 0 < ratio < 0.1, ratio
