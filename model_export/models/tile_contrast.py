"""Per-tile contrast: each input band also enters the model standardised within its own tile.

OMBRIA's 8-bit stretch moves by tens of grey levels from scene to scene, and the plugin's fixed
unit conversions are off by as much (docs/rendering_check.md). A per-tile standardised copy of
each band, ``(x - tile mean) / tile std``, does not change under a gain and offset of that band,
the way a per-patch Otsu threshold does not; the model keeps the absolute copy beside it, so a
tile that is all water or all land is still told apart. Computed inside the graph, so the ONNX
interface and the plugin do not change. The standard deviation has a floor so a nearly uniform
tile is not blown up into noise.
"""

from __future__ import annotations

import torch
from torch import Tensor

MIN_STD = 0.25  # in normalised units (the training split's per-band std is 1)


def with_tile_contrast(x: Tensor) -> Tensor:
    """[N, C, H, W] -> [N, 2C, H, W]: the input, then its per-sample, per-band standardisation."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).add(1e-6).sqrt().clamp_min(MIN_STD)
    return torch.cat([x, (x - mean) / std], dim=1)
