"""Modality stems: patch-embed optical (any number of bands) or SAR (1 or 2 bands, e.g. VV/VH)
into the first stage of the shared backbone at stride 4."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .bands import rgb_filter_index
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
    def load_from_rgb_stem(self, weight: Tensor, bias: Tensor | None = None,
                           band_wavelengths: Sequence[float | None] | None = None) -> list[str]:
        """Adapt a pretrained RGB stem (dim, 3, k, k) by band meaning, not position: a band whose
        central wavelength is that of red, green or blue takes that filter; any other band (NIR,
        SAR, unknown) takes the mean RGB filter. Rescaled so the response magnitude stays as for
        3 bands. Returns the mapping, one "band i <- source" line per band."""
        if weight.shape[0] != self.proj.out_channels or weight.shape[2:] != self.proj.kernel_size:
            raise ValueError(f"stem weight {tuple(weight.shape)} does not fit {self.proj}")
        c_in = self.in_channels
        waves = list(band_wavelengths) if band_wavelengths is not None else [None] * c_in
        if len(waves) != c_in:
            raise ValueError(f"{len(waves)} band wavelengths for a {c_in}-band stem")
        mean = weight.mean(dim=1)
        new = torch.empty_like(self.proj.weight)
        mapping = []
        for i, w in enumerate(waves):
            src = rgb_filter_index(w) if weight.shape[1] == 3 else None
            new[:, i] = weight[:, src] if src is not None else mean
            mapping.append(f"band {i} ({w if w is not None else 'unknown'} um) <- "
                           + (("red", "green", "blue")[src] if src is not None else "mean RGB"))
        self.proj.weight.copy_(new * (weight.shape[1] / c_in))
        if bias is not None:
            self.proj.bias.copy_(bias)
        return mapping
