"""Model catalogues: JSON lists of downloadable UPSeg models (id, what it expects, where it lives).

A catalogue lets an analyst pick a model by id (MODEL=upseg-tiny-ombria-water) instead of a file
path, and tells the plugin where to download it, how large it is and which SHA-256 it must have.
The plugin ships one (`upseg_qgis/models/catalogue.json`); a team can publish its own as a file on
a share or a URL. The classes and inputs listed in an entry are a summary for browsing before the
download; once the file is there, its own metadata rules (`metadata.py`).

The JSON schema of the format is `catalogue.schema.json` beside this file; docs/catalogue.md
explains each field. Pure Python: no QGIS.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse
from urllib.request import url2pathname

from ..contract.metadata import UNITS, ClassInfo

CATALOGUE_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("catalogue.schema.json")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_FILE_NAME = re.compile(r"^[^/\\:*?\"<>|]+\.onnx$")
INPUT_NAMES = ("optical", "sar")


class CatalogueError(ValueError):
    """A catalogue is unreadable or invalid; the message names the catalogue and the field."""


@dataclass(frozen=True)
class InputSummary:
    bands: tuple[tuple[str, str], ...]  # (name, description) in model order
    units: str
    accepts: tuple[str, ...] = ()  # other units the model converts from


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    name: str
    version: str
    classes: tuple[ClassInfo, ...]
    inputs: dict[str, InputSummary]
    licence: str
    size: int
    sha256: str
    urls: tuple[str, ...]
    description: str = ""
    citation: str = ""
    file_name: str = ""
    gsd_m: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    homepage: str = ""
    notes: str = ""
    embedded: bool = False
    source: str = ""  # the catalogue it came from (path or URL)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class Catalogue:
    name: str
    source: str
    entries: tuple[CatalogueEntry, ...]
    description: str = ""


def _fail(source: str, where: str, what: str) -> CatalogueError:
    return CatalogueError(f"Catalogue {source}: '{where}' {what}.")


def _get(d: Any, key: str, source: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise _fail(source, where + key, "is missing")
    return d[key]


def _text(v: Any, source: str, where: str, required: bool = True) -> str:
    if not isinstance(v, str) or (required and not v.strip()):
        raise _fail(source, where, "must be a non-empty string" if required else "must be text")
    return v


def _classes(raw: Any, source: str, where: str) -> tuple[ClassInfo, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise _fail(source, where, "must list at least two classes")
    out = []
    for i, c in enumerate(raw):
        w = f"{where}[{i}]."
        value = _get(c, "value", source, w)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 254:
            raise _fail(source, w + "value", "must be an integer 0..254")
        colour = _text(_get(c, "colour", source, w), source, w + "colour")
        if not _HEX_COLOUR.match(colour):
            raise _fail(source, w + "colour", "must be '#rrggbb'")
        out.append(ClassInfo(value, _text(_get(c, "name", source, w), source, w + "name"),
                             colour.lower()))
    if len({c.value for c in out}) != len(out):
        raise _fail(source, where, "has the same class value twice")
    return tuple(out)


def _units(v: Any, source: str, where: str) -> str:
    if v not in UNITS:
        raise _fail(source, where, f"must be one of {', '.join(UNITS)}")
    return str(v)


def _inputs(raw: Any, source: str, where: str) -> dict[str, InputSummary]:
    out = {}
    for name in INPUT_NAMES:
        d = _get(raw, name, source, where)
        w = f"{where}{name}."
        bands = _get(d, "bands", source, w)
        if not isinstance(bands, list) or not bands:
            raise _fail(source, w + "bands", "must be a non-empty list")
        parsed = []
        for i, b in enumerate(bands):
            bw = f"{w}bands[{i}]."
            parsed.append((_text(_get(b, "name", source, bw), source, bw + "name"),
                           _text(b.get("description", ""), source, bw + "description", False)))
        accepts = d.get("accepts", [])
        if not isinstance(accepts, list):
            raise _fail(source, w + "accepts", "must be a list of units")
        out[name] = InputSummary(
            tuple(parsed),
            _units(_get(d, "units", source, w), source, w + "units"),
            tuple(_units(u, source, f"{w}accepts[{i}]") for i, u in enumerate(accepts)),
        )
    return out


def parse_entry(d: Any, source: str, index: int, allow_embedded: bool = False) -> CatalogueEntry:
    """One catalogue entry, validated (`models[index]` in messages)."""
    w = f"models[{index}]."
    if not isinstance(d, dict):
        raise _fail(source, f"models[{index}]", "must be an object")
    model_id = _text(_get(d, "id", source, w), source, w + "id")
    if not _ID.match(model_id):
        raise _fail(source, w + "id", "must be 2-64 lower-case letters, digits, '.', '_' or '-'")
    version = _text(_get(d, "version", source, w), source, w + "version")
    if not _VERSION.match(version):
        raise _fail(source, w + "version", "must be letters, digits, '.', '+', '_' or '-'")
    size = _get(d, "size", source, w)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise _fail(source, w + "size", "must be the file size in bytes (an integer > 0)")
    sha = _text(_get(d, "sha256", source, w), source, w + "sha256").lower()
    sha = sha.removeprefix("sha256:")  # the written form: secret scanners flag bare hex
    if not _SHA256.match(sha):
        raise _fail(source, w + "sha256", "must be 'sha256:' and 64 hexadecimal digits")
    embedded = bool(d.get("embedded", False))
    if embedded and not allow_embedded:
        raise _fail(source, w + "embedded", "is only allowed in the plugin's own catalogue")
    urls = d.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) and u.strip() for u in urls):
        raise _fail(source, w + "urls", "must be a list of URLs or paths")
    if not urls and not embedded:
        raise _fail(source, w + "urls", "must list at least one URL or path")
    file_name = d.get("file_name") or f"{model_id}-{version}.onnx"
    if not isinstance(file_name, str) or not _FILE_NAME.match(file_name):
        raise _fail(source, w + "file_name", "must be a plain file name ending in .onnx")
    gsd = d.get("gsd_m")
    if gsd is not None and (isinstance(gsd, bool) or not isinstance(gsd, (int, float))
                            or gsd <= 0):
        raise _fail(source, w + "gsd_m", "must be a number > 0 (metres per pixel)")
    metrics = d.get("metrics", {})
    if not isinstance(metrics, dict):
        raise _fail(source, w + "metrics", "must be an object")
    return CatalogueEntry(
        id=model_id,
        name=_text(_get(d, "name", source, w), source, w + "name"),
        version=version,
        classes=_classes(_get(d, "classes", source, w), source, w + "classes"),
        inputs=_inputs(_get(d, "inputs", source, w), source, w + "inputs."),
        licence=_text(_get(d, "licence", source, w), source, w + "licence"),
        size=size,
        sha256=sha,
        urls=tuple(resolve_url(u.strip(), source) for u in urls),
        description=_text(d.get("description", ""), source, w + "description", False),
        citation=_text(d.get("citation", ""), source, w + "citation", False),
        file_name=file_name,
        gsd_m=float(gsd) if gsd is not None else None,
        metrics=dict(metrics),
        homepage=_text(d.get("homepage", ""), source, w + "homepage", False),
        notes=_text(d.get("notes", ""), source, w + "notes", False),
        embedded=embedded,
        source=source,
        raw=d,
    )


def parse_catalogue(data: str | bytes | dict[str, Any], source: str,
                    allow_embedded: bool = False) -> Catalogue:
    """Validate and parse a catalogue (JSON text or the decoded object) read from `source`."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CatalogueError(f"Catalogue {source} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise CatalogueError(f"Catalogue {source} must be a JSON object.")
    version = data.get("catalogue_version")
    if version != CATALOGUE_VERSION:
        raise CatalogueError(
            f"Catalogue {source} has catalogue_version {version!r}; this plugin reads version "
            f"{CATALOGUE_VERSION}. Update the UPSeg plugin, or ask the catalogue's author."
        )
    models = _get(data, "models", source, "")
    if not isinstance(models, list):
        raise _fail(source, "models", "must be a list")
    entries = tuple(parse_entry(m, source, i, allow_embedded) for i, m in enumerate(models))
    keys = [e.key for e in entries]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise _fail(source, "models", f"lists {', '.join(dupes)} more than once")
    return Catalogue(
        name=_text(_get(data, "name", source, ""), source, "name"),
        source=source,
        entries=entries,
        description=_text(data.get("description", ""), source, "description", False),
    )


def is_url(text: str) -> bool:
    return urlparse(text).scheme in ("http", "https")


def insecure_url(text: str) -> bool:
    """Plain http to another machine: anyone on the way could change the catalogue, and with it
    the checksums that vouch for the models. Loopback stays allowed (local servers, tests)."""
    parsed = urlparse(text)
    return parsed.scheme == "http" and parsed.hostname not in ("localhost", "127.0.0.1", "::1")


def resolve_url(url: str, source: str) -> str:
    """A URL as written in a catalogue, made absolute: relative ones are relative to the
    catalogue's own location (a URL or a file), so a team can keep models beside it."""
    if is_url(url) or urlparse(url).scheme == "file":
        return url
    if is_url(source):
        return urljoin(source, url)
    path = Path(url).expanduser()
    if not path.is_absolute() and source:
        path = Path(source).expanduser().parent / path
    return str(path)


def local_path(url: str) -> Path | None:
    """The file a `file://` URL or plain path names; None for http(s)."""
    if is_url(url):
        return None
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    return Path(url)


_RELEASE = re.compile(r"^(\d+(?:\.\d+)*)(.*)$")
_PRE = re.compile(r"^[-_.]?(dev|alpha|a|beta|b|rc|c|preview|pre)", re.IGNORECASE)
_PRE_RANK = {"dev": 0, "alpha": 1, "a": 1, "beta": 2, "b": 2}


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key: release numbers compared as numbers (0.10 > 0.9), and a pre-release
    (0.2.0-rc1, 0.2.0b2, 0.2.0.dev3) below its release (0.2.0); build tags (+x) above it."""
    m = _RELEASE.match(version)
    if not m:
        return ((), 0, (), version)
    release = tuple(int(p) for p in m.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:  # 0.2 == 0.2.0
        release = release[:-1]
    rest = m.group(2)
    pre = _PRE.match(rest)
    if pre:  # dev < alpha < beta < rc, then the number after the tag
        tag = pre.group(1).lower()
        number = re.match(r"\d*", rest[pre.end():]).group(0)
        return (release, -1, (_PRE_RANK.get(tag, 3), int(number or 0)), rest)
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower())
                  for p in re.split(r"[.+_-]", rest) if p)
    return (release, 0 if not rest else 1, parts, "")


def newest(entries: list[CatalogueEntry]) -> CatalogueEntry:
    """The entry with the highest version (see version_key)."""
    return max(entries, key=lambda e: version_key(e.version))


def find_entry(catalogues: list[Catalogue], wanted: str) -> CatalogueEntry | None:
    """`id` (newest version) or `id@version`; the first catalogue that has it wins."""
    model_id, _, version = wanted.partition("@")
    for cat in catalogues:
        hits = [e for e in cat.entries if e.id == model_id
                and (not version or e.version == version)]
        if hits:
            return newest(hits)
    return None


def all_entries(catalogues: list[Catalogue]) -> list[CatalogueEntry]:
    """Every entry once (by id@version), earlier catalogues first."""
    seen: set[str] = set()
    out = []
    for cat in catalogues:
        for e in cat.entries:
            if e.key not in seen:
                seen.add(e.key)
                out.append(e)
    return out
