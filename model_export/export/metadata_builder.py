"""Build the `upseg` metadata (docs/metadata.md) from a training checkpoint, once, at export."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from upseg_qgis.core.contract.metadata import SCHEMA_VERSION
from upseg_qgis.core.contract.parsing import parse_metadata

from .options import ModelDescription
from .renderings import rendering_for

METHOD_CITATION = (
    "Sun, Xu, Jiang, Yang, Xia, \"A semantic segmentation method enhanced by multimodal "
    "collaboration in remote sensing foundation models\", Acta Aeronautica et Astronautica Sinica "
    "47(10), 2026, doi:10.7527/S1000-6893.2025.32910"
)


def _input_block(ckpt: dict[str, Any], modality: str,
                 statistics: dict[str, Any] | None = None) -> dict[str, Any]:
    dataset = ckpt["dataset"]
    bands = dataset[f"{modality}_bands"]
    norm = ckpt["normalisation"][modality]
    rendering = rendering_for(dataset, modality)
    lo, hi = dataset.get(f"{modality}_range", [None, None])
    if len(norm["mean"]) != len(bands) or len(norm["std"]) != len(bands):
        raise ValueError(f"checkpoint normalisation of {modality} does not match its band count")
    block: dict[str, Any] = {
        "bands": [
            {"name": b["name"], "description": b["description"], "aliases": list(b["aliases"])}
            for b in bands
        ],
        "dtype": rendering["dtype"],
        "units": rendering["units"],
        "conversions": rendering["conversions"],
        "normalisation": {
            "clip": [float(lo), float(hi)] if lo is not None else [-1e30, 1e30],
            "mean": [float(m) for m in norm["mean"]],
            "std": [float(s) for s in norm["std"]],
        },
    }
    if lo is not None:
        block["valid_range"] = [float(lo), float(hi)]
    if statistics:
        block["statistics"] = statistics
    return block


def map_depends_on_tile(model_config: dict[str, Any]) -> bool:
    """Per-tile input contrast (statistics over the tile) and attention across the whole tile
    make the map depend on the tile: the plugin then runs at the exported tiling only."""
    from model_export.models import UPSegConfig

    cfg = UPSegConfig.from_dict(model_config)
    return bool(cfg.input_tile_contrast or cfg.is_vit or cfg.is_galileo)


def encoder_block(model_config: dict[str, Any]) -> dict[str, Any]:
    """Which encoder the graph holds; for DOFA the band wavelengths fixed in the graph."""
    from model_export.models import UPSegConfig
    from model_export.models.encoders import modality_wavelengths

    cfg = UPSegConfig.from_dict(model_config)
    block: dict[str, Any] = {"name": cfg.encoder, "input_multiple": cfg.output_stride}
    if cfg.is_vit:
        block["patch_size"] = 16
        block["wavelengths_um"] = {m: modality_wavelengths(cfg, m) for m in ("optical", "sar")}
        block["wavelengths_note"] = ("fixed in the graph: the model expects exactly these bands, "
                                     "in this order")
    if cfg.is_galileo:
        from model_export.models.galileo.metadata import galileo_encoder_block

        block.update(galileo_encoder_block(cfg))
    return block


def _training_block(ckpt: dict[str, Any], test_metrics: dict[str, Any] | None
                    ) -> dict[str, Any]:
    """What the model was trained on and how, and how it scored."""
    dataset = ckpt["dataset"]
    train_cfg = ckpt.get("config", {})
    training: dict[str, Any] = {
        "dataset": dataset.get("name", ""),
        "dataset_description": dataset.get("description", ""),
        "dataset_citation": dataset.get("citation", ""),
        "dataset_licence": dataset.get("licence", ""),
        "epochs": ckpt.get("epoch"),
        "seed": ckpt.get("seed"),
        "validation_metrics": ckpt.get("val_metrics", {}),
        "exported": _dt.date.today().isoformat(),
    }
    if isinstance(train_cfg, dict) and train_cfg:
        training["config"] = train_cfg
    if test_metrics:
        training["test_metrics"] = test_metrics
    return training


def build_metadata(ckpt: dict[str, Any], model: ModelDescription, *, multiple_of: int = 32,
                   input_statistics: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The metadata dict for one exported model; validated by the plugin's own parser.

    ``model``: the card fields (name, version, tiling, calibration, ...); ``input_statistics``:
    per modality, from :func:`model_export.export.input_statistics.patch_statistics`.
    """
    from model_export.models.encoder_weights import default_tile_size

    dataset = ckpt["dataset"]
    meta = {
        "schema_version": SCHEMA_VERSION,
        "model": {
            "name": model.name,
            "variant": ckpt.get("model_name", ckpt["model_config"].get("variant", "")),
            "version": model.version,
            "description": model.description,
            "architecture": ckpt["model_config"],
            "encoder": encoder_block(ckpt["model_config"]),
        },
        "classes": [
            {"value": int(c["value"]), "name": c["name"], "colour": c["colour"].lower()}
            for c in dataset["classes"]
        ],
        "nodata_value": 255,
        "inputs": {m: _input_block(ckpt, m, (input_statistics or {}).get(m))
                   for m in ("optical", "sar")},
        "gsd_m": float(dataset.get("gsd_m") or 10.0),
        "tiling": {"tile_size": model.tile_size or default_tile_size(
                       str(ckpt["model_config"].get("encoder", ""))), "overlap": model.overlap,
                   "multiple_of": multiple_of,
                   "fixed": map_depends_on_tile(ckpt["model_config"])},
        "training": _training_block(ckpt, model.test_metrics),
        "licence": model.licence,
        "citation": METHOD_CITATION,
    }
    if model.calibration:
        meta["calibration"] = model.calibration
    parse_metadata(meta)  # the plugin's validator: fail at export, not in the analyst's QGIS
    return meta
