"""Fixed seed -> identical weights and outputs."""

from __future__ import annotations

import torch

from model_export.models import build_model


def _outputs(model: torch.nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    optical, sar = torch.randn(1, 4, 37, 29, generator=g), torch.randn(1, 2, 37, 29, generator=g)
    with torch.no_grad():
        return model.eval()(optical, sar)


def test_same_seed_same_weights_and_outputs() -> None:
    torch.manual_seed(123)
    a = build_model("upseg_tiny", init_seed=7)
    torch.manual_seed(999)  # the global RNG state must not matter with init_seed
    b = build_model("upseg_tiny", init_seed=7)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(_outputs(a), _outputs(b))


def test_global_seed_also_reproducible_and_seeds_differ() -> None:
    torch.manual_seed(3)
    a = build_model("early_fusion_tiny")
    torch.manual_seed(3)
    b = build_model("early_fusion_tiny")
    assert torch.equal(_outputs(a), _outputs(b))
    c = build_model("early_fusion_tiny", init_seed=4)
    assert not torch.equal(_outputs(a), _outputs(c))


def test_init_seed_leaves_global_rng_untouched() -> None:
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    build_model("sar_only_tiny", init_seed=1)
    assert torch.equal(torch.rand(3), expected)
