"""Frozen backbone: no gradient for it, gradients for stems, prompts, VEM and decoder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from model_export.models import build_model, count_parameters

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _backward(model: torch.nn.Module) -> None:
    torch.manual_seed(1)
    optical, sar = torch.randn(2, 4, 40, 36), torch.randn(2, 2, 40, 36)
    target = torch.randint(0, 7, (2, 40, 36))
    F.cross_entropy(model(optical, sar), target).backward()


def test_frozen_backbone_gets_no_gradient_others_do() -> None:
    model = build_model("upseg_tiny", freeze_backbone=True, init_seed=0)
    model.train()
    assert not model.backbone.training, "frozen backbone must stay in eval mode"
    assert model.decoder.training
    _backward(model)

    for name, p in model.backbone.named_parameters():
        assert not p.requires_grad and p.grad is None, name
    groups = {
        "stems": model.stems,
        "prompts": model.prompts,
        "vem": model.vem,
        "decoder": model.decoder,
    }
    for group, module in groups.items():
        assert module is not None
        for name, p in module.named_parameters():
            assert p.requires_grad, f"{group}.{name}"
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{group}.{name} has no grad"

    trainable = count_parameters(model, trainable_only=True)
    assert trainable == count_parameters(model) - count_parameters(model.backbone)


def test_unfrozen_backbone_gets_gradient() -> None:
    model = build_model("upseg_tiny", init_seed=0).train()
    assert model.backbone.training
    _backward(model)
    grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


def test_freeze_can_be_switched_at_run_time() -> None:
    model = build_model("early_fusion_tiny", init_seed=0)
    model.freeze_backbone(True)
    model.train()
    assert not model.backbone.training
    assert all(not p.requires_grad for p in model.backbone.parameters())
    model.freeze_backbone(False)
    model.train()
    assert model.backbone.training
    assert all(p.requires_grad for p in model.backbone.parameters())
