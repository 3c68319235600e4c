"""A valid `upseg` metadata dict in the shape the exporter writes, for tests (not a test)."""

from __future__ import annotations

import copy
from typing import Any

_EXAMPLE: dict[str, Any] = {
    "schema_version": 1,
    "model": {
        "name": "toy_water",
        "variant": "toy",
        "version": "0.0.1",
        "description": "Test model (not trained).",
    },
    "classes": [
        {"value": 0, "name": "not water", "colour": "#d8cfb0"},
        {"value": 1, "name": "water", "colour": "#1f78b4"},
    ],
    "nodata_value": 255,
    "inputs": {
        "optical": {
            "bands": [
                {"name": "red", "description": "S2 B4 red", "aliases": ["B4", "red"]},
                {"name": "green", "description": "S2 B3 green", "aliases": ["B3", "green"]},
                {"name": "blue", "description": "S2 B2 blue", "aliases": ["B2", "blue"]},
            ],
            "dtype": "uint8",
            "units": "uint8_rendering",
            "valid_range": [0, 255],
            "conversions": [
                {"from": "reflectance", "scale": 637.5, "offset": 0.0},
                {"from": "reflectance_x10000", "scale": 0.06375, "offset": 0.0},
            ],
            "normalisation": {"clip": [0, 255], "mean": [100.0, 100.0, 100.0],
                              "std": [50.0, 50.0, 50.0]},
        },
        "sar": {
            "bands": [{"name": "vv", "description": "S1 VV", "aliases": ["VV"]}],
            "dtype": "uint8",
            "units": "uint8_rendering",
            "valid_range": [0, 255],
            "conversions": [
                {"from": "sar_db", "scale": 10.2, "offset": 255.0},
                {"from": "sar_linear", "to_db": True, "scale": 10.2, "offset": 255.0},
            ],
            "normalisation": {"clip": [0, 255], "mean": [90.0], "std": [40.0]},
        },
    },
    "gsd_m": 10.0,
    "tiling": {"tile_size": 64, "overlap": 8, "multiple_of": 32},
    "training": {"dataset": "none (test fixture)"},
    "licence": "GPL-2.0-or-later",
    "citation": "test",
}


def example_metadata_dict() -> dict[str, Any]:
    """A fresh deep copy, so a test may mutate it."""
    return copy.deepcopy(_EXAMPLE)
