"""Galileo-nano's encoder for S1 + S2 inputs, one timestep: this project's implementation of the
published architecture (module and tensor names as in the authors' checkpoint, so it loads 1:1).

Per present group g, a patch embedding (8x8 kernel, resampled to patch p by the pseudo-inverse of
bicubic resizing, as FlexiViT) gives one token per p x p patch; each token gets
[group code | time-step code | month code | 2-D position code at the token's ground size] added
(32 dims each). All tokens of all present groups attend to each other in 4 pre-norm blocks; a
final LayerNorm follows. Absent groups take no part in attention (the authors remove masked tokens
before their blocks), so leaving them out is exact.

Between blocks the state is `(N, h, w, G, D)`; UPSeg-Galileo acts on it there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from ..layers import DropPath
from .spec import (
    BASE_GSD_M,
    DEFAULT_MONTH,
    INPUT_BANDS,
    MAX_PATCH,
    PATCH_SIZES,
    SPACE_GROUPS,
    SPACE_TIME_GROUPS,
    STATIC_GROUPS,
    TIME_GROUPS,
    complete_groups,
    pretrain_shift_scale,
    resolve_bands,
)

NANO = {"dim": 128, "depth": 4, "heads": 8, "mlp_ratio": 4.0, "max_seq": 24}


def sincos(pos: Tensor, dim: int) -> Tensor:
    """(M,) positions -> (M, dim): [sin(pos w_k), cos(pos w_k)], w_k = 10000^(-k / (2 dim))."""
    k = torch.arange(dim // 2, dtype=torch.float32, device=pos.device)
    omega = 1.0 / 10000 ** (k / (2.0 * dim))
    angle = pos.float().reshape(-1, 1) * omega
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def position_code(h: int, w: int, dim: int, token_gsd_ratio: float, device: torch.device
                  ) -> Tensor:
    """(h, w, dim): the column's code then the row's, positions scaled by the token's ground size
    relative to 10 m (a 4-px token at 10 m counts 4 per step)."""
    rows = torch.arange(h, device=device).float() * token_gsd_ratio
    cols = torch.arange(w, device=device).float() * token_gsd_ratio
    col_code = sincos(cols, dim // 2)[None, :, :].expand(h, w, dim // 2)
    row_code = sincos(rows, dim // 2)[:, None, :].expand(h, w, dim // 2)
    return torch.cat([col_code, row_code], dim=-1)


class FlexiPatchEmbed(nn.Module):
    """One group's patch embedding; `proj` holds the 8x8 kernel, other sizes are derived."""

    def __init__(self, in_ch: int, dim: int, base: int = MAX_PATCH) -> None:
        super().__init__()
        self.base = base
        self.proj = nn.Conv2d(in_ch, dim, base, base)
        self._resize: dict[int, Tensor] = {}  # patch -> (p*p, base*base), not in state dict

    def resize_matrix(self, p: int) -> Tensor:
        """Pseudo-inverse of "bicubic-resize an 8x8 kernel to p x p": the p x p kernel whose
        response to resized patches matches the 8x8 kernel's response to the originals."""
        if p not in self._resize:
            eye = torch.eye(self.base * self.base, dtype=torch.float64)
            basis = eye.reshape(-1, 1, self.base, self.base).float()
            small = F.interpolate(basis, size=(p, p), mode="bicubic", antialias=True)
            self._resize[p] = torch.linalg.pinv(small.reshape(-1, p * p))
        return self._resize[p]

    def kernel(self, p: int) -> Tensor:
        w = self.proj.weight
        if p == self.base:
            return w
        o, c = w.shape[:2]
        m = self.resize_matrix(p).to(w)
        return (w.reshape(o * c, -1) @ m.T).reshape(o, c, p, p)

    def forward(self, x: Tensor, p: int) -> Tensor:
        """(N, C, H, W) -> (N, H/p, W/p, D)."""
        return F.conv2d(x, self.kernel(p), self.proj.bias, stride=p).permute(0, 2, 3, 1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        n, s, d = x.shape
        return x.reshape(n, s, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        n, s, d = x.shape
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        attn = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, s, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def _conv_groups(groups: dict[str, int], dim: int) -> nn.ModuleDict:
    return nn.ModuleDict({g: FlexiPatchEmbed(c, dim) for g, c in groups.items()})


class GalileoEncoder(nn.Module):
    """Galileo-nano encoder. `tokens(x, bands, patch)` is the whole encoder on raw-unit inputs;
    `embed` / `run_block` / `norm` are its steps for models that act between blocks."""

    num_stages = 4

    def __init__(self, drop_path_rate: float = 0.0, month: int = DEFAULT_MONTH,
                 gsd_m: float = BASE_GSD_M) -> None:
        super().__init__()
        dim, depth, quarter = NANO["dim"], NANO["depth"], NANO["dim"] // 4
        self.dim, self.month, self.gsd_m = dim, month, gsd_m
        self.stage_dims = (dim,) * self.num_stages
        self.pos_embed = nn.Parameter(sincos(torch.arange(NANO["max_seq"]), quarter),
                                      requires_grad=False)
        self.month_embed = nn.Embedding(12, quarter)
        self.month_embed.weight.requires_grad_(False)
        self.s_t_channel_embed = nn.Parameter(torch.zeros(len(SPACE_TIME_GROUPS), quarter))
        self.sp_channel_embed = nn.Parameter(torch.zeros(len(SPACE_GROUPS), quarter))
        self.t_channel_embed = nn.Parameter(torch.zeros(len(TIME_GROUPS), quarter))
        self.st_channel_embed = nn.Parameter(torch.zeros(len(STATIC_GROUPS), quarter))
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([Block(dim, NANO["heads"], NANO["mlp_ratio"], r)
                                     for r in rates])
        self.space_time_embed = _conv_groups(
            {g: len(b) for g, b in SPACE_TIME_GROUPS.items()}, dim)
        # Not used for S1/S2 inputs; present so the published checkpoint loads one to one.
        self.space_embed = _conv_groups(SPACE_GROUPS, dim)
        self.time_embed = nn.ModuleDict({g: nn.Linear(c, dim) for g, c in TIME_GROUPS.items()})
        self.static_embed = nn.ModuleDict({g: nn.Linear(c, dim)
                                           for g, c in STATIC_GROUPS.items()})
        self.norm = nn.LayerNorm(dim)
        shift, scale = zip(*(pretrain_shift_scale(b) for b in INPUT_BANDS), strict=True)
        self.register_buffer("norm_shift", torch.tensor(shift), persistent=False)
        self.register_buffer("norm_scale", torch.tensor(scale), persistent=False)

    def normalise(self, x: Tensor, bands: Sequence[str]) -> Tensor:
        """Raw units (dB, reflectance x 10000) -> the authors' pretraining normalisation."""
        idx = [INPUT_BANDS.index(b) for b in bands]
        shift = self.norm_shift[idx].view(1, -1, 1, 1)
        return (x - shift) / self.norm_scale[idx].view(1, -1, 1, 1)

    def embed(self, groups: dict[str, Tensor], patch: int) -> Tensor:
        """Normalised inputs per group {name: (N, C_g, H, W)} -> tokens (N, h, w, G, D) with
        their codes added, groups in the order given (callers use the encoder's order)."""
        if patch not in PATCH_SIZES:
            raise ValueError(f"patch size {patch}: Galileo-nano takes 1..{MAX_PATCH}")
        names = list(SPACE_TIME_GROUPS)
        toks = []
        for name, x in groups.items():
            t = self.space_time_embed[name](x, patch)
            code = torch.cat([self.s_t_channel_embed[names.index(name)], self.pos_embed[0],
                              self.month_embed.weight[self.month]])
            toks.append(t + torch.cat([code.expand(*t.shape[:3], -1),
                                       self._position(t.shape[1], t.shape[2], patch, t)], -1))
        return torch.stack(toks, dim=3)

    def _position(self, h: int, w: int, patch: int, like: Tensor) -> Tensor:
        code = position_code(h, w, self.dim // 4, patch * self.gsd_m / BASE_GSD_M, like.device)
        return code.to(like.dtype).unsqueeze(0).expand(like.shape[0], h, w, -1)

    def run_block(self, i: int, x: Tensor) -> Tensor:
        """Block i on (N, h, w, G, D) tokens: every token attends to every other."""
        n, h, w, g, d = x.shape
        return self.blocks[i](x.reshape(n, h * w * g, d)).reshape(n, h, w, g, d)

    # The project's encoder interface (models/encoders.py): the state is (N, h, w, G, D).
    input_multiple = MAX_PATCH

    def enter(self, i: int, x: Tensor) -> Tensor:
        return x  # no downsampling between blocks

    def run_blocks(self, i: int, x: Tensor) -> Tensor:
        return self.run_block(i, x)

    @staticmethod
    def as_map(x: Tensor, grid: tuple[int, int] | None = None) -> Tensor:
        """(N, h, w, G, D) -> (N, D, h, w): the mean over the groups."""
        return x.mean(dim=3).permute(0, 3, 1, 2)

    def from_map(self, x: Tensor, m: Tensor) -> Tensor:
        """Add a map's change (relative to `as_map(x)`) to every group's tokens."""
        return x + (m - self.as_map(x)).permute(0, 2, 3, 1).unsqueeze(3)

    def split_groups(self, x: Tensor, bands: Sequence[str]) -> dict[str, Tensor]:
        """(N, C, H, W) normalised, bands named -> {group: its bands} for complete groups."""
        return {g: x[:, [list(bands).index(b) for b in SPACE_TIME_GROUPS[g]]]
                for g in complete_groups(bands)}

    def tokens(self, x: Tensor, bands: Sequence[str], patch: int) -> Tensor:
        """Raw-unit (N, C, H, W) in `bands` order -> (N, H/p, W/p, G, D) after the final norm,
        for the groups whose bands were all given, in the encoder's group order."""
        bands = resolve_bands(bands)
        if x.shape[1] != len(bands):
            raise ValueError(f"{x.shape[1]} channels but {len(bands)} bands named")
        h, w = x.shape[-2:]
        if h % patch or w % patch:
            raise ValueError(f"H, W = {h}, {w} must be multiples of the patch size {patch}")
        t = self.embed(self.split_groups(self.normalise(x, bands), bands), patch)
        for i in range(len(self.blocks)):
            t = self.run_block(i, t)
        return self.norm(t)

    def freeze(self, frozen: bool = True) -> None:
        for p in self.parameters():
            p.requires_grad_(not frozen)
        self.pos_embed.requires_grad_(False)
        self.month_embed.weight.requires_grad_(False)
