"""How each training dataset's pixel values relate to the units analysts actually have.

A model trained on 8-bit renderings (OMBRIA) must still accept raw Sentinel-2 reflectance and
Sentinel-1 backscatter in QGIS. The mapping is a fact about the training data, so it is written
here once per dataset and carried into the ONNX metadata (`inputs.*.units` and `conversions`).
"""

from __future__ import annotations

from typing import Any

from upseg_qgis.core.contract.metadata import UNITS

# OMBRIA's 8-bit stretch is undocumented (see ../shared/data/README.md). Our assumptions:
# - Optical: the usual true-colour rendering, 8-bit = 255 * 2.5 * reflectance (reflectance 0.4
#   saturates). OMBRIA's median land red (48) then means reflectance ~0.075, plausible for
#   vegetated flood plains.
# - SAR: linear in dB. Two anchors fix the line: OMBRIA's median water pixel (8-bit 101) is
#   taken as -20 dB (calm open water in C-band VV) and its median non-water pixel (174) as -9 dB
#   (typical vegetated land in VV). That gives 8-bit = 6.636 * dB + 233.7.
# Training jitters gain and offset of both modalities, so the model tolerates a stretch that is
# off by tens of percent; the model card states these assumptions.
_S1_DB_SCALE = (174.0 - 101.0) / (-9.0 - -20.0)
_S1_DB_OFFSET = 174.0 - _S1_DB_SCALE * -9.0

RENDERINGS: dict[str, dict[str, dict[str, Any]]] = {
    "ombria": {
        "optical": {
            "units": "uint8_rendering",
            "dtype": "uint8",
            "conversions": [
                {
                    "from": "reflectance",
                    "scale": 637.5,
                    "offset": 0.0,
                    "description": "true-colour rendering: 8-bit = 255 * 2.5 * reflectance",
                },
                {
                    "from": "reflectance_x10000",
                    "scale": 0.06375,
                    "offset": 0.0,
                    "description": "Sentinel-2 digital numbers (reflectance x 10000)",
                },
            ],
        },
        "sar": {
            "units": "uint8_rendering",
            "dtype": "uint8",
            "conversions": [
                {
                    "from": "sar_db",
                    "scale": round(_S1_DB_SCALE, 4),
                    "offset": round(_S1_DB_OFFSET, 3),
                    "description": "8-bit = 6.636 * dB + 233.7 (-20 dB water -> 101, -9 dB land "
                    "-> 174; OMBRIA's stretch is undocumented, this is an assumption)",
                },
                {
                    "from": "sar_linear",
                    "to_db": True,
                    "scale": round(_S1_DB_SCALE, 4),
                    "offset": round(_S1_DB_OFFSET, 3),
                    "description": "linear power -> dB -> as sar_db",
                },
            ],
        },
    },
}

def units_id(text: str) -> str:
    """The dataset spec's units, checked against the metadata vocabulary."""
    if text in UNITS:
        return text
    raise ValueError(
        f"unit {text!r} is not one of {list(UNITS)}; name the units of the training data in "
        "the dataset spec (or data.options.*_units of a paired-folder config) with one of those"
    )


def rendering_for(dataset: dict[str, Any], modality: str) -> dict[str, Any]:
    """Native units, dtype and conversions of one modality of a checkpoint's dataset."""
    known = RENDERINGS.get(str(dataset.get("name", "")).lower(), {})
    if modality in known:
        return known[modality]
    units = units_id(str(dataset.get(f"{modality}_units", "")))
    return {
        "units": units,
        "dtype": "uint8" if units == "uint8_rendering" else "float32",
        "conversions": [],
    }
