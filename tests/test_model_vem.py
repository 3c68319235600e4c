"""The Variance Enhancement Module separates shared from unique information."""

from __future__ import annotations

import torch

from model_export.models import VarianceEnhancement


def _vem(dim: int = 32, head_dim: int = 8) -> VarianceEnhancement:
    torch.manual_seed(0)
    return VarianceEnhancement(dim, head_dim=head_dim, init_scale=0.5).eval()


def test_identical_inputs_have_near_zero_unique_component() -> None:
    vem = _vem()
    a = torch.randn(2, 32, 9, 11)
    with torch.no_grad():
        shared, unique = vem.decompose(a, a.clone())
        scale = vem.embed(a).abs().max()
    assert float(unique.abs().max() / scale) < 1e-4
    assert torch.allclose(shared, vem.embed(a), atol=1e-4 * float(scale))


def test_different_inputs_have_a_clear_unique_component() -> None:
    vem = _vem()
    a, b = torch.randn(2, 32, 9, 11), torch.randn(2, 32, 9, 11)
    with torch.no_grad():
        shared, unique = vem.decompose(a, b)
        qa, qb = vem.embed(a), vem.embed(b)
    # Decomposition is exact, and the unique part carries most of the energy of
    # independent features (only one direction per head is explained by b).
    assert torch.allclose(shared + unique, qa, atol=1e-5)
    assert float(unique.norm() / qa.norm()) > 0.5
    # Unique is orthogonal to the other modality, per head and pixel.
    u = unique.unflatten(1, (vem.heads, vem.head_dim))
    v = qb.unflatten(1, (vem.heads, vem.head_dim))
    cos = (u * v).sum(2) / (u.norm(dim=2) * v.norm(dim=2) + 1e-12)
    assert float(cos.abs().max()) < 1e-4


def test_partly_shared_inputs() -> None:
    # b = a + noise: the unique part of a w.r.t. b is small but not zero, and it grows with
    # the noise: the module measures how much a differs from b.
    vem = _vem()
    a = torch.randn(1, 32, 8, 8)
    with torch.no_grad():
        norms = [
            float(vem.decompose(a, a + eps * torch.randn_like(a))[1].norm()) for eps in (0.01, 1.0)
        ]
    assert 0 < norms[0] < norms[1]


def test_forward_is_identity_on_identical_modalities_and_not_otherwise() -> None:
    vem = _vem()
    a, b = torch.randn(1, 32, 6, 7), torch.randn(1, 32, 6, 7)
    with torch.no_grad():
        out_a, out_b = vem(a, a.clone())
        diff_a, diff_b = vem(a, b)
    assert torch.allclose(out_a, a, atol=1e-4) and torch.allclose(out_b, a, atol=1e-4)
    assert float((diff_a - a).abs().max()) > 1e-2 and float((diff_b - b).abs().max()) > 1e-2


def test_vem_is_symmetric_in_its_embedding_and_differentiable() -> None:
    vem = _vem(16, 8)
    vem.train()
    a = torch.randn(1, 16, 5, 5, requires_grad=True)
    b = torch.randn(1, 16, 5, 5, requires_grad=True)
    out_a, out_b = vem(a, b)
    (out_a.square().mean() + out_b.square().mean()).backward()
    assert a.grad is not None and b.grad is not None
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in vem.parameters())
