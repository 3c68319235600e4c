"""`UPSegConfig`: every knob of UPSeg and its baselines, storable as a plain JSON-able dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .dofa.vit import DOFA_SIZES as _DOFA_SIZES

FUSION_MODES: tuple[str, ...] = (
    "upseg",
    "optical_only",
    "sar_only",
    "early_fusion",
    "late_fusion",
)

# Input is padded to a multiple of this: the coarsest stage is at stride 32.
OUTPUT_STRIDE: int = 32

# Encoders behind the one interface (models/encoders.py). "dofa" is a DOFA ViT of custom size
# (vit_dim/vit_depth/vit_heads); the named ones are the published sizes.
ENCODERS: tuple[str, ...] = ("convnext", "dofa", "dofa_small", "dofa_base", "dofa_large",
                             "galileo_nano")


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
    pretrained: str | None = None  # local state dict (timm ConvNeXt or DOFA); never downloaded
    pretrained_allow_partial: bool = False  # accept a load of < 95 % of the encoder's tensors
    # Encoder (models/encoders.py). DOFA: ViT, patch 16, wavelength-conditioned patch embedding.
    encoder: str = "convnext"
    vit_dim: int | None = None  # custom "dofa" size; the named sizes fill these in
    vit_depth: int | None = None
    vit_heads: int | None = None
    vit_groups: int = 4  # groups of blocks; prompts and VEM act before each group
    dofa_weight_order: str = "band_major"  # "legacy" for DOFA checkpoints from before 2024-09
    neck_dim: int = 128
    # Band meaning (names as in the dataset spec) and DOFA wavelengths in micrometres; the
    # wavelengths default to the table in models/bands.py looked up by band name.
    optical_bands: tuple[str, ...] | None = None
    sar_bands: tuple[str, ...] | None = None
    wavelengths_optical: tuple[float, ...] | None = None
    wavelengths_sar: tuple[float, ...] | None = None
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
    # Galileo-nano (models/galileo/): token patch size (1..8), head ("linear" | "decoder") and how
    # a lone VV band fills the S1 group ("vh_offset" | "learned", models/galileo/inputs.py).
    galileo_patch_size: int = 8
    galileo_head: str = "decoder"
    sar_bridge: str = "vh_offset"

    def __post_init__(self) -> None:
        # Lists come back from JSON/YAML: store tuples so configs compare and hash alike.
        self.dims = tuple(int(d) for d in self.dims)  # type: ignore[assignment]
        self.depths = tuple(int(d) for d in self.depths)  # type: ignore[assignment]
        for name in ("optical_bands", "sar_bands"):
            if getattr(self, name) is not None:
                setattr(self, name, tuple(str(b) for b in getattr(self, name)))
        for name in ("wavelengths_optical", "wavelengths_sar"):
            if getattr(self, name) is not None:
                setattr(self, name, tuple(float(w) for w in getattr(self, name)))
        if self.encoder in _DOFA_SIZES:
            dim, depth, heads = _DOFA_SIZES[self.encoder]
            self.vit_dim = self.vit_dim or dim
            self.vit_depth = self.vit_depth or depth
            self.vit_heads = self.vit_heads or heads
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
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.is_vit:
            self._validate_vit()
        elif self.is_galileo:
            self._validate_galileo()
        elif self.use_vem:
            bad = [d for d in self.dims if d % self.vem_head_dim]
            if bad:
                raise ValueError(f"vem_head_dim {self.vem_head_dim} must divide dims, not {bad}")
        if self.kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd")
        if self.input_tile_contrast and (self.fusion_mode != "upseg" or self.is_vit):
            raise ValueError("input_tile_contrast is implemented for fusion_mode 'upseg' with "
                             "the convnext encoder only")

    def _validate_vit(self) -> None:
        if not (self.vit_dim and self.vit_depth and self.vit_heads):
            raise ValueError("encoder 'dofa' needs vit_dim, vit_depth and vit_heads")
        if self.vit_dim % self.vit_heads or self.vit_dim % 4:
            raise ValueError(f"vit_dim {self.vit_dim} must be divisible by vit_heads and by 4")
        if self.vit_groups != 4 or self.vit_depth < 4:
            raise ValueError("the DOFA encoder is used as 4 groups of blocks (vit_groups=4, "
                             "vit_depth >= 4) feeding the 4-scale neck")
        if self.use_vem and self.vit_dim % self.vem_head_dim:
            raise ValueError(f"vem_head_dim {self.vem_head_dim} must divide vit_dim "
                             f"{self.vit_dim}")
        for name, count in (("wavelengths_optical", self.in_channels_optical),
                            ("wavelengths_sar", self.in_channels_sar)):
            given = getattr(self, name)
            if given is not None and len(given) != count:
                raise ValueError(f"{name} has {len(given)} values for {count} bands")

    def _validate_galileo(self) -> None:
        if not 1 <= self.galileo_patch_size <= 8:
            raise ValueError(f"galileo_patch_size {self.galileo_patch_size}: 1..8")
        if self.galileo_head not in ("linear", "decoder"):
            raise ValueError(f"galileo_head must be linear or decoder, not {self.galileo_head!r}")
        if self.use_vem and 128 % self.vem_head_dim:
            raise ValueError(f"vem_head_dim {self.vem_head_dim} must divide Galileo's width 128")

    @property
    def is_galileo(self) -> bool:
        return self.encoder == "galileo_nano"

    @property
    def is_vit(self) -> bool:
        return self.encoder.startswith("dofa")

    @property
    def output_stride(self) -> int:
        """Inputs are padded to a multiple of this (ConvNeXt: 32; DOFA: its patch size, 16;
        Galileo: its patch size)."""
        if self.is_galileo:
            return self.galileo_patch_size
        return 16 if self.is_vit else OUTPUT_STRIDE

    @property
    def feature_dims(self) -> tuple[int, ...]:
        """Widths of the 4 feature maps the decoder receives."""
        return (self.neck_dim,) * 4 if self.is_vit else tuple(self.dims)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = asdict(self)
        out["dims"] = list(self.dims)
        out["depths"] = list(self.depths)
        for name in ("optical_bands", "sar_bands", "wavelengths_optical", "wavelengths_sar"):
            if out[name] is not None:
                out[name] = list(out[name])
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
