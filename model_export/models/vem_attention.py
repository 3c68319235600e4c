"""VEM as cross-modal attention (the form used with the DOFA encoder; formulas in docs/model.md).

For modality a with tokens A and the other modality b with tokens B (N, L, D), per head:

    Â, B̂ = LN(A), LN(B)                         one shared norm: a common space
    Q_a = Â W_q,  K_b = B̂ W_k,  V_b = B̂ W_v,  V_a = Â W_v     shared projections
    S_a = softmax(Q_a K_bᵀ / √d_h) V_b           what b already explains of a (attention over
                                                  every position of b, not only the same pixel)
    U_a = V_a − S_a                               what is unique to a
    G_a = 2 σ(W_g,a [U_a ; S_a])                  input-dependent gain in (0, 2)
    A'  = A + γ_a ⊙ W_o,a (G_a ⊙ U_a)             unique part amplified and added back

and symmetrically for b. γ starts small so an encoder's pretrained features pass unchanged at
first while every VEM parameter still gets a gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CrossAttentionVEM(nn.Module):
    """`forward(opt_map, sar_map)` on (N, D, h, w) maps -> both maps with unique parts enhanced."""

    def __init__(self, dim: int, head_dim: int = 32, init_scale: float = 1e-2) -> None:
        super().__init__()
        if dim % head_dim:
            raise ValueError(f"vem_head_dim {head_dim} must divide the encoder width {dim}")
        self.dim, self.head_dim, self.heads = dim, head_dim, dim // head_dim
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.gate = nn.ModuleDict({m: nn.Linear(2 * dim, dim) for m in ("optical", "sar")})
        self.out = nn.ModuleDict({m: nn.Linear(dim, dim, bias=False) for m in ("optical", "sar")})
        self.gamma = nn.ParameterDict(
            {m: nn.Parameter(torch.full((dim,), float(init_scale))) for m in ("optical", "sar")})

    def _heads(self, x: Tensor) -> Tensor:  # (N, L, D) -> (N, heads, L, head_dim)
        return x.reshape(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def _merge(self, x: Tensor) -> Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.dim)

    def decompose(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Tokens (N, L, D) -> (shared S_a, unique U_a, attention of a onto b)."""
        na, nb = self.norm(a), self.norm(b)
        q, k = self._heads(self.q(na)), self._heads(self.k(nb))
        va, vb = self._heads(self.v(na)), self._heads(self.v(nb))
        attn = torch.softmax(q @ k.transpose(-2, -1) * self.head_dim ** -0.5, dim=-1)
        shared = attn @ vb
        return self._merge(shared), self._merge(va - shared), attn

    def _enhance(self, a: Tensor, b: Tensor, modality: str) -> Tensor:
        shared, unique, _ = self.decompose(a, b)
        gain = 2.0 * torch.sigmoid(self.gate[modality](torch.cat([unique, shared], dim=-1)))
        return a + self.gamma[modality] * self.out[modality](gain * unique)

    def forward(self, optical: Tensor, sar: Tensor) -> tuple[Tensor, Tensor]:
        n, d, h, w = optical.shape
        a = optical.flatten(2).transpose(1, 2)
        b = sar.flatten(2).transpose(1, 2)
        new_a, new_b = self._enhance(a, b, "optical"), self._enhance(b, a, "sar")

        def back(t: Tensor) -> Tensor:
            return t.transpose(1, 2).reshape(n, d, h, w)

        return back(new_a), back(new_b)
