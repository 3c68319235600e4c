"""Hierarchical 4-stage backbone (strides 4/8/16/32) standing in for the remote-sensing
foundation model. ConvNeXt blocks, parameter names as in timm's ConvNeXt so that a local
timm-style state dict (`stages.N.downsample.*`, `stages.N.blocks.M.*`) loads directly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from .layers import DropPath, LayerNorm2d, trunc_normal_init
from .load_report import LoadReport

# Older name of the load result, kept for callers that import it.
LoadResult = LoadReport


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    """Depthwise kxk conv -> LayerNorm -> MLP -> layer scale, residual (channels-last MLP)."""

    def __init__(
        self,
        dim: int,
        mlp_ratio: float = 4.0,
        kernel_size: int = 7,
        layer_scale_init: float = 1e-6,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init)))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        x = self.conv_dw(x).permute(0, 2, 3, 1)  # NHWC for LayerNorm + Linear
        x = self.mlp(self.norm(x)) * self.gamma
        return shortcut + self.drop_path(x.permute(0, 3, 1, 2))


class BackboneStage(nn.Module):
    """Optional 2x2 stride-2 downsample, then a sequence of blocks."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        depth: int,
        downsample: bool,
        drop_paths: Sequence[float],
        mlp_ratio: float,
        kernel_size: int,
        layer_scale_init: float,
    ) -> None:
        super().__init__()
        self.downsample: nn.Module
        if downsample:
            self.downsample = nn.Sequential(
                LayerNorm2d(in_dim), nn.Conv2d(in_dim, dim, kernel_size=2, stride=2)
            )
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(
            *[
                ConvNeXtBlock(dim, mlp_ratio, kernel_size, layer_scale_init, drop_paths[i])
                for i in range(depth)
            ]
        )


# Wrappers and prefixes seen in checkpoints of timm, mmseg, lightning and DINO-style trainers.
_CHECKPOINT_WRAPPERS = ("state_dict", "model", "module", "teacher", "student")
_KEY_PREFIXES = ("module.", "model.", "backbone.", "encoder.")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a local state dict, unwrap common containers and strip common key prefixes."""
    obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    for name in _CHECKPOINT_WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(name), dict):
            obj = obj[name]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a state dict")
    state: dict[str, Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, Tensor):
            continue
        k = str(key)
        changed = True
        while changed:  # strip nested prefixes such as "module.backbone."
            changed = False
            for prefix in _KEY_PREFIXES:
                if k.startswith(prefix):
                    k, changed = k[len(prefix) :], True
        state[k] = value
    return state


class Backbone(nn.Module):
    """Shared 4-stage backbone; `forward_stage(i, x)` lets UPSeg interleave prompts and VEM."""

    def __init__(
        self,
        dims: Sequence[int] = (16, 32, 64, 128),
        depths: Sequence[int] = (1, 1, 2, 1),
        mlp_ratio: float = 4.0,
        kernel_size: int = 7,
        layer_scale_init: float = 1e-6,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.dims = tuple(dims)
        self.depths = tuple(depths)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        stages: list[nn.Module] = []
        start = 0
        for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
            stages.append(
                BackboneStage(
                    in_dim=dims[max(i - 1, 0)],
                    dim=dim,
                    depth=depth,
                    downsample=i > 0,
                    drop_paths=rates[start : start + depth],
                    mlp_ratio=mlp_ratio,
                    kernel_size=kernel_size,
                    layer_scale_init=layer_scale_init,
                )
            )
            start += depth
        self.stages = nn.ModuleList(stages)
        trunc_normal_init(self)
        self.frozen = False

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def downsample(self, i: int, x: Tensor) -> Tensor:
        return self.stages[i].downsample(x)

    def blocks(self, i: int, x: Tensor) -> Tensor:
        return self.stages[i].blocks(x)

    def forward_stage(self, i: int, x: Tensor) -> Tensor:
        return self.blocks(i, self.downsample(i, x))

    def forward(self, x: Tensor) -> list[Tensor]:
        """Stem output (stride 4, dims[0] channels) -> features at strides 4/8/16/32."""
        feats = []
        for i in range(self.num_stages):
            x = self.forward_stage(i, x)
            feats.append(x)
        return feats

    def freeze(self, frozen: bool = True) -> None:
        """Frozen: no gradients, and eval mode kept (no dropout/stochastic depth)."""
        self.frozen = frozen
        for p in self.parameters():
            p.requires_grad_(not frozen)
        if frozen:
            super().train(False)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode and not self.frozen)
        return self

    def load_pretrained(self, path: str | Path, verbose: bool = True,
                        allow_partial: bool = False) -> LoadReport:
        """Load a local timm-style (ConvNeXt layout) state dict into the stages, non-strictly.

        Keys outside the stages (stem, head, norm) are reported as unexpected; keys of another
        shape are skipped and reported. Fewer than 95 % of the stages' tensors loaded is an error
        (PretrainedLoadError) unless `allow_partial`; then nothing is changed. Never downloads.
        """
        state = read_state_dict(path)
        own = self.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        report = LoadReport(
            encoder="convnext", source=str(path), total=len(own), loaded=sorted(usable),
            missing=sorted(k for k in own if k not in usable),
            unexpected=sorted(k for k in state if k not in own),
            mismatched=sorted(k for k in state if k in own and own[k].shape != state[k].shape))
        if verbose:
            print(report.text(), flush=True)
        report.enforce(allow_partial, hint=_foreign_hint(state))
        self.load_state_dict(usable, strict=False)
        return report

    # The encoder interface (models/encoders.py).
    input_multiple = 32

    @property
    def stage_dims(self) -> tuple[int, ...]:
        return self.dims

    def enter(self, i: int, x: Tensor) -> Tensor:
        return self.downsample(i, x)

    def run_blocks(self, i: int, x: Tensor) -> Tensor:
        return self.blocks(i, x)

    def as_map(self, x: Tensor, grid: Sequence[int] | None = None) -> Tensor:
        return x

    def from_map(self, x: Tensor, m: Tensor) -> Tensor:
        return m


def _foreign_hint(state: dict[str, Tensor]) -> str:
    if any(k.startswith("blocks.") and ".attn." in k for k in state):
        return ("This is a ViT checkpoint (blocks.N.attn.*)"
                + (", DOFA by its wavelength-conditioned patch embedding: use encoder "
                   "dofa_base / dofa_large." if any(k.startswith("patch_embed.weight_generator")
                                                    for k in state) else ".")
                + " It cannot initialise the ConvNeXt encoder.")
    return ""
