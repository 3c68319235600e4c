"""Variance Enhancement Module (VEM): before the modalities interact, bring out what is unique
to each one with respect to the other, so the interaction is driven by modality-specific
information rather than by what both already share.

Both modalities are embedded with the SAME norm + 1x1 projection into a common space. Per head
and per pixel, the cross-modal affinity of a onto b, <a, b> / (|b|^2 + eps), gives the part of a
that b explains (shared = affinity * b); the orthogonal residual is what is unique to a. A
learned, input-dependent gate amplifies the unique part, which is projected back and added to
the modality's features. Identical modalities give a (near) zero unique part: then VEM is the
identity, as there is nothing distinctive to enhance.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import LayerNorm2d


class VarianceEnhancement(nn.Module):
    """Cross-modal variance enhancement at one stage: `forward(optical, sar)` returns both
    modalities with their unique components amplified and added back."""

    def __init__(
        self, dim: int, head_dim: int = 8, init_scale: float = 1e-2, eps: float = 1e-6
    ) -> None:
        super().__init__()
        if dim % head_dim:
            raise ValueError(f"head_dim {head_dim} must divide dim {dim}")
        self.dim = dim
        self.head_dim = head_dim
        self.heads = dim // head_dim
        self.eps = eps
        # Shared embedding: one common space, so identical inputs map to identical vectors.
        self.norm = LayerNorm2d(dim)
        self.proj = nn.Conv2d(dim, dim, 1)
        # Per-modality gate; grouped by head, each head's gate sees its own unique and shared
        # parts (cheap: 2 * dim * head_dim weights instead of 2 * dim^2).
        self.gate_optical = nn.Conv2d(2 * dim, dim, 1, groups=self.heads)
        self.gate_sar = nn.Conv2d(2 * dim, dim, 1, groups=self.heads)
        # No bias: no unique information means nothing is added.
        self.out_optical = nn.Conv2d(dim, dim, 1, bias=False)
        self.out_sar = nn.Conv2d(dim, dim, 1, bias=False)
        self.gamma_optical = nn.Parameter(torch.full((dim, 1, 1), float(init_scale)))
        self.gamma_sar = nn.Parameter(torch.full((dim, 1, 1), float(init_scale)))

    def embed(self, x: Tensor) -> Tensor:
        """Features -> common space (same weights for both modalities)."""
        return self.proj(self.norm(x))

    def _split_heads(self, qa: Tensor, qb: Tensor) -> tuple[Tensor, Tensor]:
        # [N, heads, head_dim, H, W]: affinity of a onto b per head and pixel.
        a = qa.unflatten(1, (self.heads, self.head_dim))
        b = qb.unflatten(1, (self.heads, self.head_dim))
        affinity = (a * b).sum(dim=2, keepdim=True) / ((b * b).sum(dim=2, keepdim=True) + self.eps)
        shared = affinity * b
        return shared, a - shared

    def split(self, qa: Tensor, qb: Tensor) -> tuple[Tensor, Tensor]:
        """Per head: shared = projection of qa onto qb, unique = qa - shared (orthogonal to qb)."""
        shared, unique = self._split_heads(qa, qb)
        return shared.flatten(1, 2), unique.flatten(1, 2)

    def decompose(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        """(shared, unique) components of modality `a` with respect to `b`, in the common space."""
        return self.split(self.embed(a), self.embed(b))

    def _enhance(
        self, x: Tensor, qa: Tensor, qb: Tensor, gate: nn.Conv2d, out: nn.Conv2d, gamma: Tensor
    ) -> Tensor:
        shared, unique = self._split_heads(qa, qb)
        # Head-major [u_h, s_h] channel order so each gate group sees exactly one head.
        g_in = torch.cat([unique, shared], dim=2).flatten(1, 2)
        # Gate in (0, 2): the unique part can be amplified up to 2x before projection back.
        g = 2.0 * torch.sigmoid(gate(g_in))
        return x + gamma * out(g * unique.flatten(1, 2))

    def forward(self, optical: Tensor, sar: Tensor) -> tuple[Tensor, Tensor]:
        q_opt, q_sar = self.embed(optical), self.embed(sar)
        new_opt = self._enhance(
            optical, q_opt, q_sar, self.gate_optical, self.out_optical, self.gamma_optical
        )
        new_sar = self._enhance(sar, q_sar, q_opt, self.gate_sar, self.out_sar, self.gamma_sar)
        return new_opt, new_sar
