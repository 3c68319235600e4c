"""`UPSegConfig`: every knob of UPSeg and its baselines, storable as a plain JSON-able dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

FUSION_MODES: tuple[str, ...] = (
    "upseg",
    "optical_only",
    "sar_only",
    "early_fusion",
    "late_fusion",
)

# Input is padded to a multiple of this: the coarsest stage is at stride 32.
OUTPUT_STRIDE: int = 32


@dataclass
class UPSegConfig:
    """Configuration of one model; `to_dict()` goes into checkpoints, `from_dict()` rebuilds it."""

    variant: str = "upseg_tiny"
    in_channels_optical: int = 4  # e.g. R, G, B, NIR
    in_channels_sar: int = 2  # e.g. Sentinel-1 VV, VH
    num_classes: int = 7
    # Backbone (ConvNeXt-like, 4 stages at strides 4/8/16/32).
    dims: tuple[int, int, int, int] = (16, 32, 64, 128)
    depths: tuple[int, int, int, int] = (1, 1, 2, 1)
    mlp_ratio: float = 4.0
    kernel_size: int = 7
    layer_scale_init: float = 0.1
    drop_path_rate: float = 0.0
    freeze_backbone: bool = False
    pretrained: str | None = None  # local timm-style state dict; never downloaded
    # UPSeg parts (only meaningful for fusion_mode "upseg").
    fusion_mode: str = "upseg"
    use_prompts: bool = True
    use_vem: bool = True
    prompt_reduction: int = 4  # prompt hidden width = max(8, dim // prompt_reduction)
    prompt_init_scale: float = 1e-2  # small: a frozen backbone behaves as before at start
    vem_head_dim: int = 8
    vem_init_scale: float = 1e-2
    # Decoder.
    decoder_dim: int = 64
    decoder_dropout: float = 0.1
    # If set, weights are initialised from this seed whatever the global RNG state is.
    init_seed: int | None = None
    # Each input band also enters standardised within its tile (models/tile_contrast.py).
    input_tile_contrast: bool = False

    def __post_init__(self) -> None:
        # Lists come back from JSON/YAML: store tuples so configs compare and hash alike.
        self.dims = tuple(int(d) for d in self.dims)  # type: ignore[assignment]
        self.depths = tuple(int(d) for d in self.depths)  # type: ignore[assignment]
        self.validate()

    def validate(self) -> None:
        """Raise ValueError on an inconsistent configuration."""
        if self.fusion_mode not in FUSION_MODES:
            raise ValueError(f"fusion_mode must be one of {FUSION_MODES}, got {self.fusion_mode!r}")
        if len(self.dims) != 4 or len(self.depths) != 4:
            raise ValueError("dims and depths need exactly 4 entries (strides 4/8/16/32)")
        if min(self.dims) < 1 or min(self.depths) < 1:
            raise ValueError("dims and depths must be positive")
        if self.in_channels_optical < 1 or self.in_channels_sar < 1:
            raise ValueError("in_channels_optical and in_channels_sar must be >= 1")
        if self.num_classes < 1:
            raise ValueError("num_classes must be >= 1")
        if self.fusion_mode != "upseg" and (self.use_prompts or self.use_vem):
            raise ValueError(
                f"fusion_mode {self.fusion_mode!r} has no prompts or VEM: "
                "set use_prompts=False and use_vem=False"
            )
        if self.use_vem:
            bad = [d for d in self.dims if d % self.vem_head_dim]
            if bad:
                raise ValueError(f"vem_head_dim {self.vem_head_dim} must divide dims, not {bad}")
        if self.kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd")
        if self.input_tile_contrast and self.fusion_mode != "upseg":
            raise ValueError("input_tile_contrast is implemented for fusion_mode 'upseg' only")

    @property
    def output_stride(self) -> int:
        return OUTPUT_STRIDE

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = asdict(self)
        out["dims"] = list(self.dims)
        out["depths"] = list(self.depths)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UPSegConfig:
        """Inverse of `to_dict()`; unknown keys are an error so typos do not pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown UPSegConfig keys: {unknown}")
        return cls(**data)

    def replace(self, **overrides: Any) -> UPSegConfig:
        """Copy with some fields changed (validated)."""
        data = self.to_dict()
        data.update(overrides)
        return UPSegConfig.from_dict(data)
