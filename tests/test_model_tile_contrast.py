"""The per-tile contrast input option: invariant to a band's gain and offset, same interface."""

from __future__ import annotations

import pytest
import torch

from model_export.models import build_model
from model_export.models.tile_contrast import MIN_STD, with_tile_contrast


def test_contrast_copy_ignores_gain_and_offset_and_keeps_the_absolute_copy() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=g) * 3
    a, b = with_tile_contrast(x), with_tile_contrast(x * 1.7 - 0.4)
    assert a.shape == (2, 6, 16, 16)
    assert torch.equal(a[:, :3], x)
    torch.testing.assert_close(a[:, 3:], b[:, 3:], atol=1e-5, rtol=1e-5)
    flat = with_tile_contrast(torch.full((1, 1, 8, 8), 5.0) + 1e-3 * torch.rand(1, 1, 8, 8))
    assert flat[:, 1].abs().max() <= 1e-3 / MIN_STD + 1e-6  # a uniform tile is not blown up


def test_model_with_contrast_keeps_the_interface(torch_one_thread) -> None:
    m = build_model("upseg_tiny", in_channels_optical=3, in_channels_sar=1, num_classes=2,
                    input_tile_contrast=True, init_seed=0).eval()
    with torch.no_grad():
        out = m(torch.rand(1, 3, 40, 72), torch.rand(1, 1, 40, 72))
    assert out.shape == (1, 2, 40, 72)
    assert m.stems["optical"].in_channels == 6 and m.stems["sar"].in_channels == 2
    with pytest.raises(ValueError, match="upseg"):
        build_model("sar_only_tiny", in_channels_optical=3, in_channels_sar=1,
                    input_tile_contrast=True)
