"""Cross-modal prompt generators ("inspiration"): at every backbone stage the features of one
modality produce a prompt that is added to the other modality's features before the shared
stage blocks parse them, in both directions (optical -> SAR and SAR -> optical)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import LayerNorm2d


class PromptGenerator(nn.Module):
    """Prompt for the target modality made from the source modality's features.

    The source is squeezed to a small width and given local context (depthwise 3x3); the target
    gates which of those cues it takes (like ViPT's modality-complementary prompter). The output
    is scaled by a learnable per-channel `gamma` initialised small, so a (frozen) backbone
    behaves as before at the start while every prompt parameter still gets a gradient.
    """

    def __init__(self, dim: int, hidden: int, init_scale: float = 1e-2) -> None:
        super().__init__()
        self.norm_src = LayerNorm2d(dim)
        self.norm_dst = LayerNorm2d(dim)
        self.src_proj = nn.Conv2d(dim, hidden, 1)
        self.src_dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.dst_proj = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.out = nn.Conv2d(hidden, dim, 1)
        self.gamma = nn.Parameter(torch.full((dim, 1, 1), float(init_scale)))

    def forward(self, src: Tensor, dst: Tensor) -> Tensor:
        cue = self.act(self.src_dw(self.src_proj(self.norm_src(src))))
        gate = torch.sigmoid(self.dst_proj(self.norm_dst(dst)))
        return self.gamma * self.out(cue * gate)


class CrossModalPrompt(nn.Module):
    """Both directions at one stage: returns (optical + prompt from SAR, SAR + prompt from
    optical). Both prompts are computed from the inputs before either is updated."""

    def __init__(self, dim: int, hidden: int, init_scale: float = 1e-2) -> None:
        super().__init__()
        self.sar_to_optical = PromptGenerator(dim, hidden, init_scale)
        self.optical_to_sar = PromptGenerator(dim, hidden, init_scale)

    def forward(self, optical: Tensor, sar: Tensor) -> tuple[Tensor, Tensor]:
        p_opt = self.sar_to_optical(sar, optical)
        p_sar = self.optical_to_sar(optical, sar)
        return optical + p_opt, sar + p_sar


def prompt_hidden(dim: int, reduction: int) -> int:
    """Width of a prompt generator's bottleneck."""
    return max(8, dim // max(1, reduction))
