"""One registry of the encoders this project can build and the weights each can load, in the way
torchgeo's weight enums carry their metadata: which bands (or band rule) the weights expect, how
inputs are normalised, the ground sample distance, patch sizes, the file and its digest, licence
and citation, and the load rule. `load_encoder_weights` loads through the encoder's own loader
and returns the project's LoadReport (models/load_report.py).

    w = encoder_weights("galileo_nano")
    report = w.load(encoder, "../shared/models/galileo_nano/encoder.pt")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from .galileo.spec import (
    BASE_GSD_M,
    DEFAULT_MONTH,
    INPUT_BANDS,
    INPUT_GROUPS,
    PATCH_SIZES,
    PRETRAIN_MEAN,
    PRETRAIN_STD,
    SPACE_TIME_GROUPS,
    STD_MULTIPLIER,
)
from .load_report import MIN_COVERAGE, LoadReport

DOFA_CITATION = ("Z. Xiong et al., \"Neural Plasticity-Inspired Multimodal Foundation Model for "
                 "Earth Observation\" (DOFA), arXiv:2403.15356, 2024")
GALILEO_CITATION = ("G. Tseng, A. Fuller, M. Reil, H. Herzog, P. Beukema, F. Bastani, J. R. Green, "
                    "E. Shelhamer, H. Kerner, D. Rolnick, \"Galileo: Learning Global & Local "
                    "Features of Many Remote Sensing Modalities\", ICML 2025, arXiv:2502.09356")


@dataclass(frozen=True)
class EncoderWeights:
    """An encoder layout and the weights it takes (None fields: not applicable / not known)."""

    name: str
    encoder: str  # UPSegConfig.encoder
    description: str
    layout: dict[str, Any]
    bands: str | tuple[str, ...]  # names, or a rule ("any band with a known wavelength")
    normalisation: dict[str, Any]
    gsd_m: float | None
    patch_sizes: tuple[int, ...]
    file: str | None = None  # relative to the project root's parent (../shared/...)
    sha256: str | None = None
    licence: str = ""
    citation: str = ""
    min_coverage: float = MIN_COVERAGE
    # The exported model's tile size unless the exporter is told otherwise: attention over all
    # tokens of a tile costs (tokens)^2, so ViT encoders get smaller tiles.
    tile_size: int = 256
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self, encoder: nn.Module, path: str | Path | None = None, *,
             allow_partial: bool = False, verbose: bool = True) -> LoadReport:
        """Load `path` (default: the registered file) with this encoder's loader and rule."""
        return load_encoder_weights(self, encoder, path, allow_partial=allow_partial,
                                    verbose=verbose)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able metadata (e.g. for a model card or the ONNX metadata)."""
        return {"name": self.name, "encoder": self.encoder, "description": self.description,
                "layout": self.layout, "bands": self.bands,
                "groups": {k: list(v) for k, v in self.groups.items()},
                "normalisation": self.normalisation, "gsd_m": self.gsd_m,
                "patch_sizes": list(self.patch_sizes), "file": self.file, "sha256": self.sha256,
                "licence": self.licence, "citation": self.citation,
                "min_coverage": self.min_coverage, "tile_size": self.tile_size, **self.extra}


_DOFA_BANDS = "any band with a central wavelength (models/bands.py); SAR by DOFA's code value"
_DOFA_NORM = {"rule": "per band (x - mean) / std of the training data, in the dataset's units"}


def _dofa(name: str, dim: int, depth: int, heads: int, torchgeo_file: str) -> EncoderWeights:
    return EncoderWeights(
        name=name, encoder=name, layout={"dim": dim, "depth": depth, "heads": heads, "patch": 16},
        description=f"DOFA ViT ({name.split('_')[1]}, patch 16), MAE-pretrained on five sensors; "
        f"published by zhu-xlab and redistributed by torchgeo as {torchgeo_file}",
        bands=_DOFA_BANDS, normalisation=_DOFA_NORM, gsd_m=None, patch_sizes=(16,),
        licence="CC-BY-4.0 (model cards of the published weights)", citation=DOFA_CITATION,
        extra={"weight_orders": ["band_major", "legacy"]})


REGISTRY: dict[str, EncoderWeights] = {
    "convnext_tiny": EncoderWeights(
        name="convnext_tiny", encoder="convnext",
        description="the project's tiny ConvNeXt (upseg_tiny), trained from scratch: no "
        "published weights; a timm ConvNeXt state dict loads into the convnext layout",
        layout={"dims": [16, 32, 64, 128], "depths": [1, 1, 2, 1]},
        bands="any; one stem per modality", normalisation=_DOFA_NORM, gsd_m=None,
        patch_sizes=(4,), licence="GPL-2.0-or-later (this project)"),
    "dofa_base": _dofa("dofa_base", 768, 12, 12, "dofa_base_patch16_224-7cc0f413.pth"),
    "dofa_large": _dofa("dofa_large", 1024, 24, 16, "dofa_large_patch16_224 (torchgeo)"),
    "galileo_nano": EncoderWeights(
        name="galileo_nano", encoder="galileo_nano",
        description="Galileo-nano encoder (ViT, 128 wide, 4 blocks, 8 heads, flexible patch "
        "1-8), self-supervised on 127,155 global samples; nasaharvest/galileo data/models/nano "
        "at commit d04822911e853668034888a90d490b799fae6929",
        layout={"dim": 128, "depth": 4, "heads": 8, "mlp_ratio": 4, "max_patch": 8},
        bands=INPUT_BANDS, groups={g: SPACE_TIME_GROUPS[g] for g in INPUT_GROUPS},
        normalisation={"rule": "x_norm = (x - (mean - 2 std)) / (4 std), applied in the encoder",
                       "units": {"VV": "dB", "VH": "dB", "S2": "reflectance x 10000"},
                       "std_multiplier": STD_MULTIPLIER,
                       "mean": dict(zip(INPUT_BANDS, PRETRAIN_MEAN, strict=True)),
                       "std": dict(zip(INPUT_BANDS, PRETRAIN_STD, strict=True))},
        gsd_m=BASE_GSD_M, patch_sizes=PATCH_SIZES, file="shared/models/galileo_nano/encoder.pt",
        sha256="eab6acacf527886a508a555bc24efe4b4a2cf91b162e84cd1c4a1807e942180c",
        licence="MIT", citation=GALILEO_CITATION, min_coverage=1.0, tile_size=128,
        extra={"month": DEFAULT_MONTH, "timesteps": 1}),
}


def list_encoder_weights() -> list[str]:
    return list(REGISTRY)


def encoder_weights(name: str) -> EncoderWeights:
    if name not in REGISTRY:
        raise KeyError(f"unknown encoder weights {name!r}; known: {list_encoder_weights()}")
    return REGISTRY[name]


def default_tile_size(encoder: str) -> int:
    """The tile size an export of a model on `encoder` (UPSegConfig.encoder) gets by default."""
    return next((w.tile_size for w in REGISTRY.values() if w.encoder == encoder), 256)


def default_path(weights: EncoderWeights) -> Path:
    """Where the registered file lies for a checkout beside ../shared."""
    if weights.file is None:
        raise ValueError(f"{weights.name}: no published file registered; pass a path")
    return Path(__file__).resolve().parents[3] / weights.file


def load_encoder_weights(weights: EncoderWeights, encoder: nn.Module,
                         path: str | Path | None = None, *, allow_partial: bool = False,
                         verbose: bool = True) -> LoadReport:
    """Dispatch to the encoder's own loader; every loader reports and enforces its rule."""
    path = Path(path) if path is not None else default_path(weights)
    if weights.encoder == "galileo_nano":
        from .galileo import load_galileo_weights

        return load_galileo_weights(encoder, path, name=weights.name, verbose=verbose,  # type: ignore[arg-type]
                                    allow_partial=allow_partial, expected_sha256=weights.sha256)
    if weights.encoder.startswith("dofa"):
        from .dofa import load_dofa_weights

        return load_dofa_weights(encoder, path, name=weights.name,  # type: ignore[arg-type]
                                 allow_partial=allow_partial, verbose=verbose)
    return encoder.load_pretrained(path, verbose=verbose,  # type: ignore[operator]
                                   allow_partial=allow_partial)
