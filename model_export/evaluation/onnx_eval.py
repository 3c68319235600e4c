"""Evaluate an exported ONNX file on a dataset split exactly as the plugin would feed it.

Inputs go through the metadata's own `InputSpec.prepare` (units, clip, mean/std) and ONNX
Runtime; no torch model is involved, so this measures the shipped artefact itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from upseg_qgis.core.accuracy.metrics import ConfusionMatrix, jsonable
from upseg_qgis.core.contract.metadata import ModelMetadata
from upseg_qgis.core.contract.parsing import metadata_from_props

from .otsu import otsu_water


def load_session(onnx_path: str | Path) -> tuple[Any, ModelMetadata]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = metadata_from_props(sess.get_modelmeta().custom_metadata_map, str(onnx_path))
    return sess, meta


def _dataset(name: str, split: str, data_root: str | None,
             options: dict[str, Any] | None = None) -> Any:
    from model_export.data import build_dataset

    cfg: dict[str, Any] = {"dataset": name, "options": dict(options or {})}
    if data_root:
        cfg["data_root"] = data_root
    return build_dataset(cfg, split)


def evaluate_onnx(
    onnx_path: str | Path, dataset: str = "ombria", split: str = "test",
    data_root: str | None = None, batch_size: int = 8, options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics (upseg_qgis.core.accuracy.metrics) of the ONNX model on `dataset`/`split`;
    `options` go to the dataset reader (e.g. ``{"permanent_water": "ignore"}`` for OMBRIA)."""
    sess, meta = load_session(onnx_path)
    ds = _dataset(dataset, split, data_root, options)
    cm = ConfusionMatrix(meta.num_classes, 255, [c.name for c in meta.classes])
    for start in range(0, len(ds), batch_size):
        samples = [ds[i] for i in range(start, min(len(ds), start + batch_size))]
        opt = np.stack([meta.optical.prepare(np.asarray(s["optical"]), meta.optical.units)
                        for s in samples])
        sar = np.stack([meta.sar.prepare(np.asarray(s["sar"]), meta.sar.units) for s in samples])
        logits = sess.run(["logits"], {"optical": opt, "sar": sar})[0]
        for s, pred in zip(samples, logits.argmax(1), strict=True):
            cm.update(np.asarray(s["label"]), pred)
    out = jsonable(cm.compute())
    out.update(model=str(onnx_path), dataset=dataset, split=split, num_samples=len(ds))
    return out


def evaluate_otsu(dataset: str = "ombria", split: str = "test",
                  data_root: str | None = None) -> dict[str, Any]:
    """Per-patch SAR Otsu baseline (water = dark side) on a binary water dataset."""
    ds = _dataset(dataset, split, data_root)
    cm = ConfusionMatrix(2, 255, ["not water", "water"])
    for i in range(len(ds)):
        s = ds[i]
        cm.update(np.asarray(s["label"]), otsu_water(np.asarray(s["sar"], dtype=np.float32)))
    out = jsonable(cm.compute())
    out.update(model="per-patch Otsu on SAR", dataset=dataset, split=split, num_samples=len(ds))
    return out
