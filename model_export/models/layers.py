"""Small building blocks shared by the parts: channel LayerNorm, stochastic depth, pad/crop."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)
from torch import Tensor, nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (no running stats; ONNX LayerNormalization).

    Subclasses nn.LayerNorm so its parameters are named `weight`/`bias` as in timm checkpoints.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth per sample; the identity in eval mode (and so in exported graphs)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Zero-pad bottom/right so H and W are multiples of `multiple` (inputs are normalised,
    so zero is the mean). Pads come from the shape, so the graph stays dynamic in ONNX."""
    h, w = x.shape[-2], x.shape[-1]
    pad_h = (multiple - h % multiple) % multiple
    pad_w = (multiple - w % multiple) % multiple
    return F.pad(x, (0, pad_w, 0, pad_h))


def resize_to(x: Tensor, ref: Tensor) -> Tensor:
    """Bilinear resize of `x` to the spatial size of `ref` (size taken from the tensor shape)."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with requires_grad)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def trunc_normal_init(module: nn.Module, std: float = 0.02) -> None:
    """ConvNeXt/SegFormer-style init for conv and linear layers."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
