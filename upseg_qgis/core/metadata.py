"""The `upseg` metadata contract: what an exported model says about itself.

Written once at export (model_export.export) into the ONNX file's `metadata_props` under the key
``upseg`` as JSON, and read here by the plugin. Class names, colours, band order, units and the
exact input normalisation live in this one place and nowhere else. The JSON schema of the same
contract is ``upseg_metadata.schema.json`` beside this file; docs/metadata.md explains each field.

Pure Python + numpy: no QGIS, no torch, no onnx (the plugin may run without the `onnx` package).
"""

from __future__ import annotations

import json
import math
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

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


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
    Lets the plugin tell a layer that lies far outside them (see core/input_check.py)."""

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


# ---------------------------------------------------------------------------------------------
# Parsing and validation (hand-written so the plugin needs no jsonschema; a test checks that it
# agrees with the JSON schema file).


def _req(d: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise MetadataError(f"upseg metadata: '{where}{key}' is missing.")
    return d[key]


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise MetadataError(f"upseg metadata: '{where}' must be a finite number, got {v!r}.")
    return float(v)


def _int(v: Any, where: str, lo: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo):
        bound = f" >= {lo}" if lo is not None else ""
        raise MetadataError(f"upseg metadata: '{where}' must be an integer{bound}, got {v!r}.")
    return v


def _str(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v:
        raise MetadataError(f"upseg metadata: '{where}' must be a non-empty string.")
    return v


def _parse_input(name: str, d: dict[str, Any]) -> InputSpec:
    w = f"inputs.{name}."
    bands_raw = _req(d, "bands", w)
    if not isinstance(bands_raw, list) or not bands_raw:
        raise MetadataError(f"upseg metadata: '{w}bands' must be a non-empty list.")
    bands = tuple(
        BandInfo(
            name=_str(_req(b, "name", f"{w}bands[{i}]."), f"{w}bands[{i}].name"),
            description=_str(_req(b, "description", f"{w}bands[{i}]."), f"{w}bands[{i}].desc"),
            aliases=tuple(str(a) for a in b.get("aliases", [])),
        )
        for i, b in enumerate(bands_raw)
    )
    units = _str(_req(d, "units", w), w + "units")
    if units not in UNITS:
        raise MetadataError(f"upseg metadata: '{w}units' is '{units}', not one of {list(UNITS)}.")
    convs = []
    for i, c in enumerate(d.get("conversions", [])):
        src = _str(_req(c, "from", f"{w}conversions[{i}]."), f"{w}conversions[{i}].from")
        if src not in UNITS:
            raise MetadataError(
                f"upseg metadata: '{w}conversions[{i}].from' is '{src}', not one of {list(UNITS)}."
            )
        convs.append(
            Conversion(
                source_units=src,
                scale=_num(c.get("scale", 1.0), f"{w}conversions[{i}].scale"),
                offset=_num(c.get("offset", 0.0), f"{w}conversions[{i}].offset"),
                to_db=bool(c.get("to_db", False)),
                description=str(c.get("description", "")),
            )
        )
    norm = _req(d, "normalisation", w)
    clip = _req(norm, "clip", w + "normalisation.")
    mean = _req(norm, "mean", w + "normalisation.")
    std = _req(norm, "std", w + "normalisation.")
    for key, vals in (("mean", mean), ("std", std)):
        if not isinstance(vals, list) or len(vals) != len(bands):
            raise MetadataError(
                f"upseg metadata: '{w}normalisation.{key}' needs one value per band "
                f"({len(bands)})."
            )
    if any(_num(s, f"{w}normalisation.std") <= 0 for s in std):
        raise MetadataError(f"upseg metadata: '{w}normalisation.std' values must be > 0.")
    if not isinstance(clip, list) or len(clip) != 2 or _num(clip[0], w) >= _num(clip[1], w):
        raise MetadataError(f"upseg metadata: '{w}normalisation.clip' must be [low, high].")
    vr = d.get("valid_range")
    stats = _parse_statistics(d["statistics"], len(bands), w) if "statistics" in d else None
    return InputSpec(
        name=name,
        bands=bands,
        dtype=_str(_req(d, "dtype", w), w + "dtype"),
        units=units,
        conversions=tuple(convs),
        clip=(float(clip[0]), float(clip[1])),
        mean=tuple(_num(m, f"{w}normalisation.mean") for m in mean),
        std=tuple(float(s) for s in std),
        valid_range=(float(vr[0]), float(vr[1])) if vr else None,
        statistics=stats,
    )


def _parse_statistics(d: Any, n_bands: int, w: str) -> InputStatistics:
    w = w + "statistics."
    values: dict[str, tuple[float, ...]] = {}
    for key in ("median_low", "median_high", "spread_low", "spread_high"):
        vals = _req(d, key, w)
        if not isinstance(vals, list) or len(vals) != n_bands:
            raise MetadataError(f"upseg metadata: '{w}{key}' needs one value per band "
                                f"({n_bands}).")
        values[key] = tuple(_num(v, w + key) for v in vals)
    return InputStatistics(patches=_int(_req(d, "patches", w), w + "patches", 1), **values)


def _parse_temperature(data: dict[str, Any]) -> float:
    cal = data.get("calibration")
    if cal is None:
        return 1.0
    t = _num(_req(cal, "temperature", "calibration."), "calibration.temperature")
    if t <= 0:
        raise MetadataError("upseg metadata: 'calibration.temperature' must be > 0.")
    return t


def parse_metadata(data: str | dict[str, Any]) -> ModelMetadata:
    """Validate and parse the `upseg` metadata (a JSON string or the decoded dict)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"upseg metadata is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise MetadataError("upseg metadata must be a JSON object.")
    version = data.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise MetadataError(
            f"This model's upseg metadata has schema version {version!r}; this plugin reads "
            f"version(s) {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}. Update the UPSeg "
            "plugin, or re-export the model with a matching model_export."
        )
    model = _req(data, "model", "")
    classes, nodata = _parse_classes(data)
    inputs_raw = _req(data, "inputs", "")
    inputs = {n: _parse_input(n, _req(inputs_raw, n, "inputs.")) for n in INPUT_NAMES}
    tiling = _req(data, "tiling", "")
    tile = _int(_req(tiling, "tile_size", "tiling."), "tiling.tile_size", 16)
    overlap = _int(_req(tiling, "overlap", "tiling."), "tiling.overlap", 0)
    multiple = _int(tiling.get("multiple_of", 32), "tiling.multiple_of", 1)
    if overlap * 2 >= tile:
        raise MetadataError("upseg metadata: 'tiling.overlap' must be less than half the tile.")
    return ModelMetadata(
        schema_version=version,
        name=_str(_req(model, "name", "model."), "model.name"),
        variant=_str(_req(model, "variant", "model."), "model.variant"),
        version=_str(_req(model, "version", "model."), "model.version"),
        description=str(model.get("description", "")),
        classes=classes,
        nodata_value=nodata,
        inputs=inputs,
        gsd_m=_num(_req(data, "gsd_m", ""), "gsd_m"),
        tile_size=tile,
        overlap=overlap,
        multiple_of=multiple,
        training=dict(data.get("training", {})),
        temperature=_parse_temperature(data),
        licence=str(data.get("licence", "")),
        citation=str(data.get("citation", "")),
        raw=data,
    )


def _parse_classes(data: dict[str, Any]) -> tuple[tuple[ClassInfo, ...], int]:
    """(classes in logit order, nodata value), checked against each other."""
    classes_raw = _req(data, "classes", "")
    if not isinstance(classes_raw, list) or len(classes_raw) < 2:
        raise MetadataError("upseg metadata: 'classes' must list at least two classes.")
    classes = []
    for i, c in enumerate(classes_raw):
        colour = _str(_req(c, "colour", f"classes[{i}]."), f"classes[{i}].colour")
        if not _HEX_COLOUR.match(colour):
            raise MetadataError(f"upseg metadata: 'classes[{i}].colour' must be '#rrggbb'.")
        classes.append(
            ClassInfo(
                value=_int(_req(c, "value", f"classes[{i}]."), f"classes[{i}].value", 0),
                name=_str(_req(c, "name", f"classes[{i}]."), f"classes[{i}].name"),
                colour=colour.lower(),
            )
        )
    # Logit channel k is class classes[k]; the plugin writes classes[k].value.
    values = [c.value for c in classes]
    if len(set(values)) != len(values) or max(values) > 254:
        raise MetadataError("upseg metadata: class values must be unique and fit in 0..254.")
    nodata = _int(_req(data, "nodata_value", ""), "nodata_value", 0)
    if nodata in values or nodata > 255:
        raise MetadataError("upseg metadata: 'nodata_value' must be 0..255 and not a class value.")
    return tuple(classes), nodata


def metadata_from_props(props: dict[str, str], source: str = "the model") -> ModelMetadata:
    """Parse the metadata out of an ONNX file's custom metadata map."""
    if METADATA_KEY not in props:
        raise MetadataError(
            f"{source} has no '{METADATA_KEY}' metadata: it is not a model exported by "
            "`python -m model_export export`. Export your checkpoint with that command, or "
            "leave MODEL empty to use the embedded default model."
        )
    return parse_metadata(props[METADATA_KEY])
