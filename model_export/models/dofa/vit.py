"""DOFA encoder: wavelength-conditioned patch embedding + a plain ViT (timm `Block` layout), with
the blocks split into groups so UPSeg can act on both modalities between groups.

State between groups is the token sequence (N, 1 + h*w, D) with the class token first; `as_map`
gives the patch tokens as an (N, D, h, w) map and `from_map` puts a map back. Position embeddings
are stored for the pre-training grid (224 / 16 = 14 x 14) and resampled bicubically to the grid of
the input, so any H, W that are multiples of 16 work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from ..layers import DropPath
from .wave_embed import DynamicPatchEmbed

# name -> (embed dim, depth, heads), as DOFA's and torchgeo's vit_{small,base,large}_patch16.
DOFA_SIZES: dict[str, tuple[int, int, int]] = {
    "dofa_small": (384, 12, 6),
    "dofa_base": (768, 12, 12),
    "dofa_large": (1024, 24, 16),
}


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads {heads} must divide dim {dim}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, s, d = x.shape
        qkv = self.qkv(x).reshape(n, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, s, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block, names as timm's `Block` (norm1, attn.qkv, attn.proj, ...)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0
                 ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def sincos_2d(dim: int, grid: int) -> Tensor:
    """MAE's fixed 2-D sine/cosine position table (grid*grid, dim): half the dims code x, half y."""
    if dim % 4:
        raise ValueError(f"2-D sine/cosine position code needs dim % 4 == 0, got {dim}")
    coords = torch.arange(grid, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    k = torch.arange(dim // 4, dtype=torch.float32)
    omega = 1.0 / 10000 ** (k / (dim / 4.0))

    def code(p: Tensor) -> Tensor:
        a = p.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)

    return torch.cat([code(xx), code(yy)], dim=1)


def group_ends(depth: int, groups: int) -> list[int]:
    """Index of the last block of each of `groups` near-equal groups (12, 4 -> [2, 5, 8, 11])."""
    if not 1 <= groups <= depth:
        raise ValueError(f"need 1 <= groups <= depth, got groups={groups}, depth={depth}")
    return [round((g + 1) * depth / groups) - 1 for g in range(groups)]


class DofaEncoder(nn.Module):
    """DOFA ViT with patch 16. `tokens(x, wavelengths)` is the plain encoder (for the
    encoder-features contract); `embed`/`run_blocks`/`as_map`/`from_map` serve UPSeg."""

    input_multiple = 16

    def __init__(self, dim: int = 768, depth: int = 12, heads: int = 12, mlp_ratio: float = 4.0,
                 patch_size: int = 16, wave_dim: int = 128, pretrain_size: int = 224,
                 groups: int = 4, weight_order: str = "band_major", drop_path_rate: float = 0.0
                 ) -> None:
        super().__init__()
        self.dim, self.depth, self.patch_size = dim, depth, patch_size
        self.base_grid = pretrain_size // patch_size
        self.patch_embed = DynamicPatchEmbed(dim, patch_size, wave_dim, weight_order)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        table = torch.cat([torch.zeros(1, dim), sincos_2d(dim, self.base_grid)])
        # Fixed, as in DOFA/MAE (loaded from checkpoints, never trained).
        self.pos_embed = nn.Parameter(table.unsqueeze(0), requires_grad=False)
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, rates[i]) for i in range(depth))
        ends = group_ends(depth, groups)
        self.groups = [(0 if g == 0 else ends[g - 1] + 1, e + 1) for g, e in enumerate(ends)]
        self.stage_dims = tuple([dim] * groups)
        nn.init.normal_(self.cls_token, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.frozen = False

    @property
    def num_stages(self) -> int:
        return len(self.groups)

    def pos_for(self, h: int, w: int) -> Tensor:
        """(1, h*w, D) position embeddings of the patch grid (bicubic resample of the table)."""
        table = self.pos_embed[:, 1:]
        g = self.base_grid
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if not tracing and (int(h), int(w)) == (g, g):
            return table
        grid = table.reshape(1, g, g, self.dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return grid.flatten(2).transpose(1, 2)

    def embed(self, x: Tensor, wavelengths: Tensor,
              filters: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """(N, C, H, W) -> (N, 1 + h*w, D) tokens with class token and position embeddings."""
        h, w = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        t = self.patch_embed(x, wavelengths, filters) + self.pos_for(h, w)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        return torch.cat([cls, t], dim=1)

    def enter(self, i: int, x: Tensor) -> Tensor:
        return x  # a ViT has no downsampling between groups

    def run_blocks(self, i: int, x: Tensor) -> Tensor:
        start, end = self.groups[i]
        for block in self.blocks[start:end]:
            x = block(x)
        return x

    def as_map(self, x: Tensor, grid: Sequence[int]) -> Tensor:
        """Patch tokens (class token dropped) as an (N, D, h, w) map."""
        h, w = grid
        return x[:, 1:].transpose(1, 2).reshape(x.shape[0], self.dim, h, w)

    def from_map(self, x: Tensor, m: Tensor) -> Tensor:
        return torch.cat([x[:, :1], m.flatten(2).transpose(1, 2)], dim=1)

    def tokens(self, x: Tensor, wavelengths: Tensor) -> Tensor:
        """The encoder-features contract: last block's patch tokens (N, L, D), no final norm."""
        t = self.embed(x, wavelengths)
        for block in self.blocks:
            t = block(t)
        return t[:, 1:]

    def freeze(self, frozen: bool = True) -> None:
        self.frozen = frozen
        for name, p in self.named_parameters():
            p.requires_grad_(not frozen and name != "pos_embed")
        if frozen:
            super().train(False)

    def train(self, mode: bool = True) -> DofaEncoder:
        super().train(mode and not self.frozen)
        return self


def dofa_encoder(size: str, **kwargs: object) -> DofaEncoder:
    """A published size by name (dofa_small/base/large)."""
    if size not in DOFA_SIZES:
        raise KeyError(f"unknown DOFA size {size!r}; known: {sorted(DOFA_SIZES)}")
    dim, depth, heads = DOFA_SIZES[size]
    return DofaEncoder(dim=dim, depth=depth, heads=heads, **kwargs)  # type: ignore[arg-type]


def grid_of(x: Tensor, patch: int) -> tuple[int, int]:
    return x.shape[-2] // patch, x.shape[-1] // patch


