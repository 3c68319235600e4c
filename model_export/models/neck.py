"""Multi-scale neck: four groups of ViT blocks, all at stride 16, become a feature pyramid at
strides 4, 8, 16, 32 (as in ViTDet / BEiT segmentation) for the existing multi-scale decoder."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .layers import LayerNorm2d


def _up(in_dim: int, out_dim: int) -> nn.Module:
    return nn.ConvTranspose2d(in_dim, out_dim, kernel_size=2, stride=2)


class MultiScaleNeck(nn.Module):
    """`forward(maps)` with 4 maps (N, D, h, w) -> 4 maps (N, out_dim, .) at 4x, 2x, 1x, 1/2x."""

    num_inputs = 4

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        half, quarter = max(dim // 2, 1), max(dim // 4, 1)
        self.rescale = nn.ModuleList([
            nn.Sequential(_up(dim, half), LayerNorm2d(half), nn.GELU(), _up(half, quarter)),
            _up(dim, half),
            nn.Identity(),
            nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True),  # h odd (H % 32 == 16) is fine
        ])
        widths = (quarter, half, dim, dim)
        self.proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w, out_dim, 1, bias=False), LayerNorm2d(out_dim))
            for w in widths)
        self.out_dims = (out_dim,) * 4

    def forward(self, maps: Sequence[Tensor]) -> list[Tensor]:
        if len(maps) != self.num_inputs:
            raise ValueError(f"the neck takes {self.num_inputs} feature maps, got {len(maps)}")
        return [p(r(m)) for m, r, p in zip(maps, self.rescale, self.proj, strict=True)]
