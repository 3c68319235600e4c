"""DOFA's wavelength-conditioned dynamic patch embedding (Xiong et al., "Neural Plasticity-Inspired
Multimodal Foundation Model for Earth Observation", arXiv 2403.15356).

Each band's central wavelength (micrometres) is turned into a 1-D sine/cosine code, refined by a
residual MLP, and read by a one-layer transformer together with 128 learned weight tokens and one
bias token; linear heads turn the band tokens into that band's 16x16xD patch filter and the bias
token into the D-dim bias. So the same weights embed any set of bands, optical or SAR.

Parameter names and shapes follow the published checkpoints (DOFA's own repository and torchgeo's
`DOFABase16_Weights` / `DOFALarge16_Weights`): `weight_generator.transformer_encoder.layers.0.*`
as in `torch.nn.TransformerEncoderLayer`, `weight_generator.fc_weight|fc_bias|weight_tokens|
bias_token`, `fclayer.w1|w2`. The computation is written out here (no fast-path kernels) so that it
traces to plain ONNX ops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

# Filter layouts of the generated weights. "band_major": the generator's output row for band c
# is read as (k, k, D) and permuted to (D, c, k, k), as in torchgeo >= 0.6 and the DOFA weights
# retrained in September 2024. "legacy": the output of all bands is re-read in memory order as
# (D, C, k, k), as in the first DOFA release (a bug: band order then mattered).
WEIGHT_ORDERS = ("band_major", "legacy")
WEIGHT_SCALE = 0.01  # DOFA's fixed `scaler` on the generated weights and bias


def sincos_1d(dim: int, positions: Tensor) -> Tensor:
    """(M,) positions -> (M, dim) codes [sin(p w_k), cos(p w_k)], w_k = 10000^(-2k/dim)."""
    if dim % 2:
        raise ValueError(f"sine/cosine code needs an even dim, got {dim}")
    k = torch.arange(dim // 2, dtype=torch.float32, device=positions.device)
    omega = 1.0 / 10000 ** (k / (dim / 2.0))
    angles = positions.reshape(-1, 1).float() * omega.reshape(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class FCResLayer(nn.Module):
    """x + relu(w2(relu(w1(x))))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, dim)
        self.w2 = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + F.relu(self.w2(F.relu(self.w1(x))))


class _SelfAttention(nn.Module):
    """Parameters laid out as nn.MultiheadAttention's (in_proj_weight/bias, out_proj)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: Tensor) -> Tensor:  # x: (S, dim), one sequence
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(-1, self.heads, self.head_dim).transpose(0, 1) for t in (q, k, v))
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(self.head_dim), dim=-1)
        return self.out_proj((attn @ v).transpose(0, 1).reshape(-1, self.heads * self.head_dim))


class _PostNormLayer(nn.Module):
    """nn.TransformerEncoderLayer(norm_first=False, activation='gelu', dropout=0) written out."""

    def __init__(self, dim: int, heads: int, ff_dim: int = 2048) -> None:
        super().__init__()
        self.self_attn = _SelfAttention(dim, heads)
        self.linear1 = nn.Linear(dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.self_attn(x))
        return self.norm2(x + self.linear2(F.gelu(self.linear1(x))))


class _LayerStack(nn.Module):
    """Holds `layers.N`: keys read `transformer_encoder.layers.0.*` as in nn.TransformerEncoder."""

    def __init__(self, dim: int, heads: int, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_PostNormLayer(dim, heads) for _ in range(num_layers)])

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class WeightGenerator(nn.Module):
    """Band codes (C, wave_dim) -> (C, k*k*D) filter rows and a (D,) bias."""

    num_weight_tokens = 128

    def __init__(self, wave_dim: int, out_dim: int, embed_dim: int, heads: int = 4) -> None:
        super().__init__()
        self.transformer_encoder = _LayerStack(wave_dim, heads, 1)
        self.fc_weight = nn.Linear(wave_dim, out_dim)
        self.fc_bias = nn.Linear(wave_dim, embed_dim)
        self.weight_tokens = nn.Parameter(torch.randn(self.num_weight_tokens, wave_dim) * 0.02)
        self.bias_token = nn.Parameter(torch.randn(1, wave_dim) * 0.02)

    def forward(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        seq = torch.cat([self.weight_tokens, codes, self.bias_token], dim=0)
        out = self.transformer_encoder(seq)
        weights = self.fc_weight(out[self.num_weight_tokens : -1] + codes)
        return weights, self.fc_bias(out[-1])


class DynamicPatchEmbed(nn.Module):
    """(N, C, H, W) + C wavelengths (um) -> (N, H/k * W/k, D) patch tokens, H, W multiples of k.

    As published: conv with the generated filters, stride k, padding 1 (so each patch window is
    shifted by one pixel up/left; the token count is still H/k x W/k).
    """

    def __init__(self, embed_dim: int, kernel_size: int = 16, wave_dim: int = 128,
                 weight_order: str = "band_major") -> None:
        super().__init__()
        if weight_order not in WEIGHT_ORDERS:
            raise ValueError(f"weight_order must be one of {WEIGHT_ORDERS}, got {weight_order!r}")
        self.embed_dim = embed_dim
        self.kernel_size = kernel_size
        self.wave_dim = wave_dim
        self.weight_order = weight_order
        self.weight_generator = WeightGenerator(wave_dim, kernel_size**2 * embed_dim, embed_dim)
        self.fclayer = FCResLayer(wave_dim)
        for m in (*self.weight_generator.modules(), *self.fclayer.modules()):
            if isinstance(m, nn.Linear):  # DOFA's init of the generator's linear layers
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0.01)

    def filters(self, wavelengths: Tensor) -> tuple[Tensor, Tensor]:
        """Wavelengths (C,) in micrometres -> conv weight (D, C, k, k) and bias (D,)."""
        codes = self.fclayer(sincos_1d(self.wave_dim, wavelengths * 1000.0))
        rows, bias = self.weight_generator(codes)
        c, k, d = wavelengths.shape[0], self.kernel_size, self.embed_dim
        if self.weight_order == "band_major":
            weight = rows.reshape(c, k, k, d).permute(3, 0, 1, 2)
        else:
            weight = rows.reshape(d, c, k, k)
        return weight * WEIGHT_SCALE, bias.reshape(d) * WEIGHT_SCALE

    def forward(self, x: Tensor, wavelengths: Tensor,
                filters: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """`filters`: precomputed `self.filters(wavelengths)` (constants in exported graphs)."""
        if not torch.jit.is_tracing() and x.shape[1] != wavelengths.shape[0]:
            raise ValueError(f"input has {x.shape[1]} bands but {wavelengths.shape[0]} "
                             "wavelengths were given")
        weight, bias = filters if filters is not None else self.filters(wavelengths)
        out = F.conv2d(x, weight, bias, stride=self.kernel_size, padding=1)
        return out.flatten(2).transpose(1, 2)
