"""Fusion + SegFormer-style all-MLP decoder: per scale the modality streams are concatenated and
fused by a 1x1 projection, all scales are brought to stride 4, fused, and classified."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .layers import LayerNorm2d, resize_to


class FusionDecoder(nn.Module):
    """`forward(streams)` with streams[s][i] the stage-i features of stream s (1 or 2 streams)
    returns logits at stride 4 (the caller resizes to the input size)."""

    def __init__(
        self,
        in_dims: Sequence[int],
        num_streams: int,
        decoder_dim: int,
        num_classes: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.num_streams = num_streams
        # Cross-modal fusion per scale (concatenation + 1x1 = SegFormer's per-scale MLP).
        self.fusion = nn.ModuleList(
            [nn.Conv2d(d * num_streams, decoder_dim, kernel_size=1) for d in in_dims]
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(decoder_dim * len(in_dims), decoder_dim, kernel_size=1, bias=False),
            LayerNorm2d(decoder_dim),  # no running stats: batch size and frozen parts don't matter
            nn.GELU(),
        )
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(decoder_dim, num_classes, kernel_size=1)

    def forward(self, streams: Sequence[Sequence[Tensor]]) -> Tensor:
        if len(streams) != self.num_streams:
            raise ValueError(f"expected {self.num_streams} streams, got {len(streams)}")
        finest = streams[0][0]
        scales = []
        for i, proj in enumerate(self.fusion):
            x = torch.cat([s[i] for s in streams], dim=1) if self.num_streams > 1 else streams[0][i]
            x = proj(x)
            scales.append(x if i == 0 else resize_to(x, finest))
        x = self.fuse(torch.cat(scales, dim=1))
        return self.classifier(self.dropout(x))
