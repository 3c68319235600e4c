"""Zero-parameter water baselines on the real Sen1Floods11 chip, from its own bands: what an
analyst gets with the raster calculator, printed beside the model wherever its chip score is.

- NDWI  = (B3 - B8) / (B3 + B8) > 0      (McFeeters 1996; green vs near-infrared)
- MNDWI = (B3 - B11) / (B3 + B11) > 0.1  (Xu 2006; green vs short-wave infrared)
- Otsu on VV: the darker side of VV's (dB) histogram split at Otsu's threshold

Scored as the model is (`chip_check`): water IoU over the hand-labelled pixels (label >= 0).
numpy + GDAL only, no torch: `make demo` runs it on machines without the training side.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from .otsu import otsu_threshold

CHIP = "sen1floods11_sample"
# Band order of the chip's 13-band L1C file (B1..B12 with B8A after B8).
S2_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")


def _read(path: Path) -> np.ndarray:
    from osgeo import gdal

    ds = gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY)
    if ds is None:
        raise FileNotFoundError(f"cannot open {path}")
    return ds.ReadAsArray().astype(np.float64)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a - b) / (a + b)


def water_iou(pred: np.ndarray, label: np.ndarray) -> float:
    known = label >= 0
    p, t = pred & known, (label == 1) & known
    return float((p & t).sum() / max(1, (p | t).sum()))


def baseline_maps(folder: Path) -> dict[str, np.ndarray]:
    """Boolean water maps of each baseline (pixels a baseline cannot judge are False)."""
    s2 = _read(folder / "Spain_7370579_S2Hand.tif")
    vv = _read(folder / "Spain_7370579_S1Hand.tif")[0]
    band = {name: s2[i] for i, name in enumerate(S2_BANDS)}
    ndwi = _ratio(band["B3"], band["B8"])
    mndwi = _ratio(band["B3"], band["B11"])
    return {"NDWI > 0": np.nan_to_num(ndwi, nan=-1) > 0,
            "MNDWI > 0.1": np.nan_to_num(mndwi, nan=-1) > 0.1,
            "Otsu on VV": np.nan_to_num(vv, nan=np.inf) <= otsu_threshold(vv)}


def chip_baselines(data_root: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """Water IoU of each baseline on the chip's hand label."""
    root = data_root or os.environ.get("UPSEG_DATA_ROOT")
    # Not model_export.data's default_data_root: that package imports torch.
    base = Path(root) if root else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    folder = base / CHIP
    label = _read(folder / "Spain_7370579_LabelHand.tif")
    return {name: water_iou(pred, label) for name, pred in baseline_maps(folder).items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export.evaluation.chip_baselines",
                                description=__doc__.split("\n")[0])
    p.add_argument("--data-root", default=None,
                   help="folder holding sen1floods11_sample/ (default ../shared/data)")
    p.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = p.parse_args(argv)
    scores = chip_baselines(args.data_root)
    if args.json:
        print(json.dumps(scores))
    else:
        for name, iou in scores.items():
            print(f"Baseline {name:<12} water IoU {iou:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
