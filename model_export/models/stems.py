"""Modality stems: patch-embed optical (any number of bands) or SAR (1 or 2 bands, e.g. VV/VH)
into the first stage of the shared backbone at stride 4."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import LayerNorm2d, trunc_normal_init


class ModalityStem(nn.Module):
    """4x4 stride-4 patch embedding + channel LayerNorm, laid out like timm ConvNeXt's `stem`."""

    def __init__(self, in_channels: int, dim: int, patch_size: int = 4) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.norm = LayerNorm2d(dim)
        trunc_normal_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x))

    @torch.no_grad()
    def load_from_rgb_stem(self, weight: Tensor, bias: Tensor | None = None) -> None:
        """Adapt a pretrained RGB stem (dim, 3, k, k): first bands copy RGB, the others get the
        mean RGB filter, rescaled so the response magnitude stays as for 3 bands."""
        if weight.shape[0] != self.proj.out_channels or weight.shape[2:] != self.proj.kernel_size:
            raise ValueError(f"stem weight {tuple(weight.shape)} does not fit {self.proj}")
        c_in = self.in_channels
        mean = weight.mean(dim=1, keepdim=True)
        new = mean.repeat(1, c_in, 1, 1)
        n = min(c_in, weight.shape[1])
        new[:, :n] = weight[:, :n]
        self.proj.weight.copy_(new * (weight.shape[1] / c_in))
        if bias is not None:
            self.proj.bias.copy_(bias)
