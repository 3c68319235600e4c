"""The embedded default model on the real Sen1Floods11 chip, as an analyst runs it.

upseg_qgis/models/upseg_default.onnx ships with the plugin: missing is a failure, never a skip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal

from upseg_qgis.core.engine.session import default_model_path

pytestmark = pytest.mark.usefixtures("upseg_provider", "default_model")


@pytest.fixture(scope="module")
def default_model() -> Path:
    path = default_model_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: it ships with the plugin (`make model` rebuilds it)",
                    pytrace=False)
    return path


def water_iou(pred: np.ndarray, label: np.ndarray, nodata: int = 255) -> float:
    """IoU of class 1 where the label is known (-1 = no label) and the output has data."""
    known = (label >= 0) & (pred != nodata)
    p, t = (pred == 1) & known, (label == 1) & known
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else float("nan")


def _feedback() -> Any:
    """A Processing feedback that keeps the warnings it is given."""
    from qgis.core import QgsProcessingFeedback

    class Feedback(QgsProcessingFeedback):
        def __init__(self) -> None:
            super().__init__()
            self.warnings: list[str] = []

        def pushWarning(self, warning: str) -> None:  # noqa: N802 - Qt's name
            self.warnings.append(warning)

    return Feedback()


def _unlike(feedback: Any) -> list[str]:
    return [w for w in feedback.warnings if "unlike the training data" in w]


def test_default_model_on_sen1floods11(shared_data: Path, tmp_path: Path) -> None:
    import processing

    folder = shared_data / "sen1floods11_sample"
    out = tmp_path / "water.tif"
    feedback = _feedback()
    res = processing.run("upseg:segment", {
        "OPTICAL": str(folder / "Spain_7370579_S2Hand.tif"),
        "SAR": str(folder / "Spain_7370579_S1Hand.tif"),
        "OUTPUT": str(out),
    }, feedback=feedback)
    assert _unlike(feedback) == []  # the shipped sample looks like the training data
    pred = gdal.Open(res["OUTPUT"]).ReadAsArray()
    label_ds = gdal.Open(str(folder / "Spain_7370579_LabelHand.tif"))
    src = gdal.Open(str(folder / "Spain_7370579_S2Hand.tif"))
    assert gdal.Open(res["OUTPUT"]).GetGeoTransform() == src.GetGeoTransform()
    label = label_ds.ReadAsArray()
    iou = water_iou(pred, label)
    # The oracle is the label itself, not a figure copied from a run: a model that knows
    # anything about water beats calling every labelled pixel water (IoU = water's share).
    all_water = water_iou(np.where(pred == 255, 255, 1), label)
    print(f"embedded model, Sen1Floods11 Spain_7370579: water IoU {iou:.3f} "
          f"(all water: {all_water:.3f})")
    assert iou > all_water + 0.1


def test_unlike_training_warning_on_a_sar_layer_in_the_wrong_units(shared_data: Path,
                                                                   tmp_path: Path) -> None:
    """The sample's SAR as linear power, declared as dB: the embedded model's training
    statistics (in its metadata) flag it, naming SAR_UNITS."""
    import processing

    from tests.toy_model import write_raster

    folder = shared_data / "sen1floods11_sample"
    src = gdal.Open(str(folder / "Spain_7370579_S1Hand.tif"))
    linear = write_raster(tmp_path / "s1_linear.tif",
                          10 ** (src.ReadAsArray().astype(np.float32) / 10),
                          src.GetGeoTransform(), 4326, descriptions=["VV", "VH"])
    feedback = _feedback()
    processing.run("upseg:segment", {
        "OPTICAL": str(folder / "Spain_7370579_S2Hand.tif"), "SAR": str(linear),
        "SAR_UNITS": "sar_db", "OUTPUT": str(tmp_path / "water.tif"),
    }, feedback=feedback)
    (msg,) = _unlike(feedback)
    assert msg.startswith("The SAR values look unlike the training data: check SAR_UNITS")

