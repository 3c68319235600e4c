"""The `upseg` metadata contract: what an exported model says about itself.

Written once at export (model_export.export) into the ONNX file's `metadata_props` under the key
``upseg`` as JSON, and read by the plugin: parsing.py validates it into the types here,
which also say what follows from them (accepted units, conversions, the input normalisation).
Class names, colours, band order, units and the exact input normalisation live in this one
place and nowhere else. The JSON schema of the same
contract is ``upseg_metadata.schema.json`` beside this file; docs/metadata.md explains each field.

Pure Python + numpy: no QGIS, no torch, no onnx (the plugin may run without the `onnx` package).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

METADATA_KEY = "upseg"
SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
SCHEMA_PATH = Path(__file__).with_name("upseg_metadata.schema.json")
INPUT_NAMES = ("optical", "sar")

# The closed vocabulary of input units. A model states its native units and how other units map
# onto them; the plugin never invents a conversion of its own.
UNITS: dict[str, str] = {
    "uint8_rendering": "8-bit rendering, 0-255 (e.g. a stretched true-colour PNG)",
    "reflectance": "reflectance as a fraction, about 0-1",
    "reflectance_x10000": "reflectance scaled by 10000 (Sentinel-2 L1C/L2A digital numbers)",
    "sar_db": "SAR backscatter in decibels",
    "sar_linear": "SAR backscatter as linear power (sigma0 or gamma0)",
}

# Input units the plugin derives from a unit above by a fixed shift (stored value + shift is in
# the base unit). Models never state them: the model's conversion of the base unit applies
# after the shift. Sentinel-2 L1C/L2A products from processing baseline 04.00 (January 2022)
# store 10000 x reflectance + 1000 (RADIO_ADD_OFFSET / BOA_ADD_OFFSET = -1000).
DERIVED_UNITS: dict[str, tuple[str, float, str]] = {
    "reflectance_x10000_offset1000": (
        "reflectance_x10000",
        -1000.0,
        "reflectance x 10000 + 1000 (Sentinel-2 from processing baseline 04.00)",
    ),
}
# Every unit a user may name for a layer.
INPUT_UNITS: dict[str, str] = {**UNITS, **{k: v[2] for k, v in DERIVED_UNITS.items()}}

class MetadataError(ValueError):
    """The model file carries no usable `upseg` metadata; the message says what to do."""


@dataclass(frozen=True)
class ClassInfo:
    value: int
    name: str
    colour: str  # "#rrggbb"

    @property
    def rgb(self) -> tuple[int, int, int]:
        c = self.colour.lstrip("#")
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


@dataclass(frozen=True)
class BandInfo:
    name: str
    description: str
    aliases: tuple[str, ...] = ()

    def matches(self, label: str) -> bool:
        """True when a raster band's description names this band (case and zero-padding blind)."""
        wanted = {_norm_band_label(a) for a in (self.name, *self.aliases)}
        return _norm_band_label(label) in wanted


def _norm_band_label(text: str) -> str:
    # "B04", "b4", " B4 " all mean Sentinel-2 band 4.
    t = text.strip().lower()
    m = re.fullmatch(r"b0*(\d+)(a?)", t)
    return f"b{m.group(1)}{m.group(2)}" if m else t


@dataclass(frozen=True)
class Conversion:
    """How values in `source_units` become the model's native units before normalisation.

    native = (10*log10(x) if to_db else x) * scale + offset
    """

    source_units: str
    scale: float = 1.0
    offset: float = 0.0
    to_db: bool = False
    description: str = ""

    def apply(self, x: np.ndarray) -> np.ndarray:
        """float32 values in the model's units; `x` itself when nothing changes, else a new
        array (one allocation: the later steps work in place)."""
        x = x.astype(np.float32, copy=False)
        if self.to_db:
            # Zero or negative power has no dB value: treat it as missing rather than -inf.
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, 10.0 * np.log10(np.where(x > 0, x, 1.0)), np.nan)
            x = x.astype(np.float32, copy=False)
            if self.scale != 1.0 or self.offset != 0.0:
                x *= np.float32(self.scale)
                x += np.float32(self.offset)
        elif self.scale != 1.0 or self.offset != 0.0:
            x = np.multiply(x, np.float32(self.scale), dtype=np.float32)
            x += np.float32(self.offset)
        return x


@dataclass(frozen=True)
class InputStatistics:
    """What the training patches looked like, per band, in the model's native units: the range
    (1st to 99th percentile over patches) of each patch's median and of its interquartile spread.
    Lets the plugin tell a layer that lies far outside them (see core/inputs/input_check.py)."""

    patches: int
    median_low: tuple[float, ...]
    median_high: tuple[float, ...]
    spread_low: tuple[float, ...]
    spread_high: tuple[float, ...]


@dataclass(frozen=True)
class InputSpec:
    name: str  # "optical" or "sar", the ONNX input name
    bands: tuple[BandInfo, ...]
    dtype: str
    units: str
    conversions: tuple[Conversion, ...]
    clip: tuple[float, float]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    valid_range: tuple[float, float] | None = None
    statistics: InputStatistics | None = None

    @property
    def band_count(self) -> int:
        return len(self.bands)

    @property
    def accepted_units(self) -> tuple[str, ...]:
        stated = (self.units, *(c.source_units for c in self.conversions))
        derived = tuple(k for k, (base, _, _) in DERIVED_UNITS.items() if base in stated)
        return (*stated, *derived)

    def conversion_for(self, units: str) -> Conversion:
        if units == self.units:
            return Conversion(source_units=units, description="native units")
        for conv in self.conversions:
            if conv.source_units == units:
                return conv
        if units in DERIVED_UNITS and DERIVED_UNITS[units][0] in self.accepted_units:
            base_units, shift, _ = DERIVED_UNITS[units]
            base = self.conversion_for(base_units)
            # (x + shift) * scale + offset; a base conversion through dB has no such form.
            if not base.to_db:
                return Conversion(
                    source_units=units,
                    scale=base.scale,
                    offset=base.offset + shift * base.scale,
                    description=f"{shift:+g}, then as {base_units}"
                    + (f" ({base.description})" if base.description else ""),
                )
        raise MetadataError(
            f"The model's {self.name} input accepts units {', '.join(self.accepted_units)}; "
            f"'{units}' is not among them. Choose one of those units for the {self.name} layer."
        )

    def prepare(self, raw: np.ndarray, units: str) -> np.ndarray:
        """Raw band values [C, H, W] in `units` -> the normalised float32 the model expects.

        NaN marks missing pixels and stays NaN, so the caller can build its nodata mask after.
        """
        if raw.shape[0] != self.band_count:
            raise MetadataError(
                f"The model's {self.name} input needs {self.band_count} bands "
                f"({', '.join(b.description for b in self.bands)}), got {raw.shape[0]}."
            )
        x = self.conversion_for(units).apply(raw)
        if x is raw or not x.flags.writeable:
            x = np.array(x, dtype=np.float32)  # never change the caller's array
        lo, hi = self.clip
        np.clip(x, np.float32(lo), np.float32(hi), out=x)  # NaN passes through unchanged
        x -= np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        x /= np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        return x


@dataclass(frozen=True)
class ModelMetadata:
    schema_version: int
    name: str
    variant: str
    version: str
    description: str
    classes: tuple[ClassInfo, ...]
    nodata_value: int
    inputs: dict[str, InputSpec]
    gsd_m: float
    tile_size: int
    overlap: int
    multiple_of: int
    # The map depends on the tile itself (statistics over the tile, attention across it): the
    # model runs at its own tile_size and overlap only, so memory settings never change the map.
    fixed_tiling: bool = False
    training: dict[str, Any] = field(default_factory=dict)
    # Softmax temperature fitted on validation data (1.0: none stored); the confidence output
    # is softmax(logits / temperature). The class map (argmax) does not depend on it.
    temperature: float = 1.0
    licence: str = ""
    citation: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def optical(self) -> InputSpec:
        return self.inputs["optical"]

    @property
    def sar(self) -> InputSpec:
        return self.inputs["sar"]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_json(self) -> str:
        return json.dumps(self.raw, indent=1, sort_keys=False)
