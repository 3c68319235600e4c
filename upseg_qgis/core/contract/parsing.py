"""Parsing and validation of the `upseg` metadata contract (the types are in metadata.py).

Hand-written so that the plugin needs no jsonschema; a test checks that it agrees with the JSON
schema file (``upseg_metadata.schema.json``). Every refusal is a MetadataError whose message
names the field and says what is expected.

Pure Python: no QGIS, no torch, no onnx.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .metadata import (
    INPUT_NAMES,
    METADATA_KEY,
    SUPPORTED_SCHEMA_VERSIONS,
    UNITS,
    BandInfo,
    ClassInfo,
    Conversion,
    InputSpec,
    InputStatistics,
    MetadataError,
    ModelMetadata,
)

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


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
    bands = _parse_bands(_req(d, "bands", w), w)
    units = _str(_req(d, "units", w), w + "units")
    if units not in UNITS:
        raise MetadataError(f"upseg metadata: '{w}units' is '{units}', not one of {list(UNITS)}.")
    convs = _parse_conversions(d.get("conversions", []), w)
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


def _parse_bands(bands_raw: Any, w: str) -> tuple[BandInfo, ...]:
    if not isinstance(bands_raw, list) or not bands_raw:
        raise MetadataError(f"upseg metadata: '{w}bands' must be a non-empty list.")
    return tuple(
        BandInfo(
            name=_str(_req(b, "name", f"{w}bands[{i}]."), f"{w}bands[{i}].name"),
            description=_str(_req(b, "description", f"{w}bands[{i}]."), f"{w}bands[{i}].desc"),
            aliases=tuple(str(a) for a in b.get("aliases", [])),
        )
        for i, b in enumerate(bands_raw)
    )


def _parse_conversions(convs_raw: list[Any], w: str) -> list[Conversion]:
    convs = []
    for i, c in enumerate(convs_raw):
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
    return convs


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
    fixed = _fixed_tiling(tiling, model)
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
        fixed_tiling=fixed,
        training=dict(data.get("training", {})),
        temperature=_parse_temperature(data),
        licence=str(data.get("licence", "")),
        citation=str(data.get("citation", "")),
        raw=data,
    )


def _fixed_tiling(tiling: dict[str, Any], model: dict[str, Any]) -> bool:
    """`tiling.fixed`; models exported before the field existed say it through their
    architecture (per-tile input contrast makes the map depend on the tile)."""
    if "fixed" in tiling:
        if not isinstance(tiling["fixed"], bool):
            raise MetadataError("upseg metadata: 'tiling.fixed' must be true or false.")
        return tiling["fixed"]
    arch = model.get("architecture")
    return bool(isinstance(arch, dict) and arch.get("input_tile_contrast"))


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
