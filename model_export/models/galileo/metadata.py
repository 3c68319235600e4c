"""What an exported Galileo model says about its encoder in the ONNX metadata (`model.encoder`):
which Galileo bands and groups the inputs feed, how a lone VV fills the S1 group, the weights'
licence and citation. The plugin needs none of it to run the model (inputs are matched by the
`inputs` block); it tells analysts and tools what the graph holds."""

from __future__ import annotations

from typing import Any

from ..config import UPSegConfig
from ..encoder_weights import encoder_weights
from .inputs import galileo_inputs


def galileo_encoder_block(cfg: UPSegConfig) -> dict[str, Any]:
    inputs = galileo_inputs(cfg)
    weights = encoder_weights("galileo_nano")
    return {
        "patch_size": cfg.galileo_patch_size,
        "galileo_bands": {"optical": inputs.optical_bands, "sar": inputs.sar_bands},
        "galileo_groups": inputs.groups,
        "absent_groups": [g for g in weights.groups if g not in inputs.groups],
        "sar_bridge": inputs.bridge,
        "month": weights.extra["month"],
        "gsd_m": weights.gsd_m,
        "weights": {"file": "encoder.pt (nasaharvest/galileo, data/models/nano)",
                    "sha256": weights.sha256, "licence": weights.licence,
                    "citation": weights.citation},
        "units_note": "the graph converts its normalised inputs back to the training units and "
                      "then to dB / reflectance x 10000 with the training data's stated rendering",
    }
