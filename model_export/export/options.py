"""What an export is asked for, in one place: what the metadata says about the model
(`ModelDescription`) and how the export is made and checked (`ExportOptions`). Shared by
`onnx_export.export_checkpoint` and `metadata_builder.build_metadata`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPSET = 17
DEFAULT_LICENCE = "GPL-2.0-or-later (code); model trained on the data named in 'training'"


@dataclass(frozen=True)
class ModelDescription:
    """The metadata's model card fields; tiling is what the plugin uses unless the user sets it
    (tile_size None: the encoder's own default, `encoder_weights.default_tile_size`)."""

    name: str
    version: str
    description: str = ""
    test_metrics: dict[str, Any] | None = None
    tile_size: int | None = None
    overlap: int = 32
    calibration: dict[str, Any] | None = None  # {"temperature": T, ...}, see docs/metadata.md
    licence: str = DEFAULT_LICENCE


@dataclass(frozen=True)
class ExportOptions:
    """How to export: graph, variants and the parity checks every file must pass."""

    model: ModelDescription
    opset: int = OPSET
    optimize: bool = True
    fp16: bool = False
    int8: bool = False
    parity_patches: int = 16
    data_root: str | None = None
    atol: float = 1e-4
    min_int8_agreement: float = 0.98
    input_statistics: bool = True  # store the training inputs' statistics (plugin input check)


def export_options(name: str, version: str, **fields: Any) -> ExportOptions:
    """ExportOptions from flat keywords: those of ModelDescription go to `model`, the rest stay."""
    card_fields = set(ModelDescription.__dataclass_fields__)
    card = {k: fields.pop(k) for k in list(fields) if k in card_fields}
    return ExportOptions(ModelDescription(name, version, **card), **fields)
