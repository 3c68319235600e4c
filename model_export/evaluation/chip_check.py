"""The exported model on the real, georeferenced Sen1Floods11 chip, through the plugin's own
pipeline: what an analyst gets on raw Sentinel-1/2. Reported only, never used to choose."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .chip_baselines import water_iou


def sen1floods11_check(model: Path, data_root: str | None, tta: str = "none",
                       ) -> dict[str, Any] | None:
    """Run the plugin's own pipeline on the raw, georeferenced Sen1Floods11 chip (13-band L1C
    digital numbers + S1 dB, EPSG:4326) and score it against the hand label. Reported only:
    nothing is tuned on it. ``tta``: the pipeline's test-time augmentation."""
    from osgeo import gdal

    from model_export.data._io import default_data_root
    from upseg_qgis.core.run.pipeline import RuntimeOptions, segment

    base = Path(data_root) if data_root else default_data_root()
    chip = base / "sen1floods11_sample"
    if not (chip / "Spain_7370579_LabelHand.tif").is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "water.tif"
        result = segment(str(chip / "Spain_7370579_S2Hand.tif"),
                         str(chip / "Spain_7370579_S1Hand.tif"), str(out),
                         model=str(model), runtime=RuntimeOptions(device="cpu", tta=tta))
        pred = gdal.Open(str(out)).ReadAsArray()
    label = gdal.Open(str(chip / "Spain_7370579_LabelHand.tif")).ReadAsArray()
    known = (label >= 0) & (pred != 255)
    p, t = (pred == 1) & known, (label == 1) & known
    # Scored as the baselines are; pixels the model left as nodata count as unlabelled.
    return {"water_iou": water_iou(pred == 1, np.where(pred != 255, label, -1)),
            "predicted_water_fraction": float(p.sum() / known.sum()),
            "labelled_water_fraction": float(t.sum() / known.sum()),
            "optical_units": result.optical_units, "sar_units": result.sar_units,
            "optical_bands": result.optical_bands, "sar_bands": result.sar_bands,
            "warnings": list(result.warnings), "seconds": result.seconds}


def checkpoint_chip_check(checkpoint: Path, work: Path, *, parity_patches: int,
                          input_statistics: bool = True) -> dict[str, Any] | None:
    """`sen1floods11_check` of a training checkpoint: exported (fp32, with the exporter's parity
    check) to a temporary ONNX file under `work`, run, and the file removed."""
    from model_export.export.onnx_export import export_checkpoint, export_options

    with tempfile.TemporaryDirectory(dir=work) as tmp:
        onnx_path = Path(tmp) / "checkpoint.onnx"
        export_checkpoint(checkpoint, onnx_path, export_options(
            "chip_check", "0.0.0", parity_patches=parity_patches,
            input_statistics=input_statistics))
        return sen1floods11_check(onnx_path, None)
