"""Where catalogue models live on this machine, and which catalogues are in use.

Layout of the models folder (in the QGIS profile unless the settings say otherwise):

    <models>/<id>/<version>/<file_name>          the verified model file
    <models>/<id>/<version>/<file_name>.sha256   its verification stamp (checksum.py)
    <models>/<id>/<version>/entry.json           the catalogue entry it was installed from
    <models>/catalogues/<hash>.json              the last copy of each remote catalogue

An offline folder (a share, a USB stick, another machine's models folder) is searched for the
same layout or for the bare file name; a file found anywhere is used only when its SHA-256 is the
catalogue's. Pure Python: no QGIS; the network comes in through a `download.Transport`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .catalogue import (
    Catalogue,
    CatalogueEntry,
    CatalogueError,
    insecure_url,
    is_url,
    parse_catalogue,
    parse_entry,
)
from .checksum import file_sha256
from .download import DownloadError, Transport, download

PLUGIN_MODELS = Path(__file__).resolve().parents[2] / "models"
SHIPPED_CATALOGUE = PLUGIN_MODELS / "catalogue.json"
ENTRY_FILE = "entry.json"

Log = Callable[[str], None]


def _noop(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class StoreConfig:
    models_dir: Path
    offline_dirs: tuple[Path, ...] = ()
    catalogues: tuple[str, ...] = ()  # user catalogues: file paths or http(s) URLs
    download_on_first_use: bool = True


@dataclass
class CatalogueSet:
    catalogues: list[Catalogue] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # catalogues that could not be read


def shipped_catalogue() -> Catalogue:
    return parse_catalogue(SHIPPED_CATALOGUE.read_bytes(), str(SHIPPED_CATALOGUE),
                           allow_embedded=True)


def _cache_file(models_dir: Path, url: str) -> Path:
    name = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return models_dir / "catalogues" / f"{name}.json"


def _read_remote(url: str, transport: Transport | None, cache: Path, refresh: bool,
                 warn: Log) -> Catalogue:
    if refresh and transport is not None:
        resp = transport.get(url, 0, None)
        if resp.status == 200 and not resp.error:
            cat = parse_catalogue(resp.body, url)  # only a valid catalogue replaces the copy
            cache.parent.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")  # noqa: UP017 - 3.9+
            cache.write_text(json.dumps({"url": url, "fetched": stamp,
                                         "catalogue": json.loads(resp.body)}), encoding="utf-8")
            return cat
        status = f"HTTP {resp.status}" if resp.status else "no answer"
        why = f"{status}{f' ({resp.error})' if resp.error else ''}"
        if not cache.is_file():
            raise CatalogueError(f"Catalogue {url} could not be fetched: {why}.")
        warn(f"Catalogue {url} could not be fetched ({why}); using the copy kept on "
             f"this machine.")
    if not cache.is_file():
        raise CatalogueError(f"Catalogue {url} has not been fetched yet.")
    kept = json.loads(cache.read_text(encoding="utf-8"))
    return parse_catalogue(kept["catalogue"], url)


def load_catalogues(
    config: StoreConfig,
    extra: Sequence[str] = (),
    transport: Transport | None = None,
    refresh: bool = False,
    warn: Log = _noop,
) -> CatalogueSet:
    """`extra` catalogues (a parameter), then the configured ones, then the plugin's own.

    Remote catalogues are fetched only when `refresh` is set (else their last copy is used); a
    catalogue that cannot be read is reported in `problems`, never fatal to the others.
    """
    out = CatalogueSet()
    for src in [*extra, *config.catalogues]:
        src = src.strip()
        if not src:
            continue
        try:
            if insecure_url(src):
                raise CatalogueError(
                    f"Catalogue {src} is plain http: anyone on the network path could change "
                    "the models and checksums it lists. Use its https address, or a local copy.")
            if is_url(src):
                cache = _cache_file(config.models_dir, src)
                out.catalogues.append(_read_remote(src, transport, cache, refresh, warn))
            else:
                path = Path(src).expanduser()
                if not path.is_file():
                    raise CatalogueError(f"Catalogue file {path} does not exist.")
                out.catalogues.append(parse_catalogue(path.read_bytes(), str(path)))
        except (CatalogueError, OSError, ValueError, KeyError) as exc:
            out.problems.append(str(exc))
    shipped = shipped_catalogue()
    _warn_shadowing(out.catalogues, shipped, warn)
    out.catalogues.append(shipped)
    return out


def _warn_shadowing(catalogues: list[Catalogue], shipped: Catalogue, warn: Log) -> None:
    """A user catalogue may reuse an embedded model's id (earlier catalogues win): say so."""
    embedded = {e.id for e in shipped.entries}
    for cat in catalogues:
        for model_id in sorted({e.id for e in cat.entries} & embedded):
            warn(f"Catalogue {cat.source} lists a model '{model_id}', the id of the model "
                 f"embedded in the plugin: MODEL={model_id} now means that catalogue's model, "
                 "not the embedded one.")


def install_dir(config: StoreConfig, entry: CatalogueEntry) -> Path:
    return config.models_dir / entry.id / entry.version


def install_path(config: StoreConfig, entry: CatalogueEntry) -> Path:
    return install_dir(config, entry) / entry.file_name


def _candidates(config: StoreConfig, entry: CatalogueEntry) -> list[Path]:
    if entry.embedded:
        return [PLUGIN_MODELS / entry.file_name]
    found = [install_path(config, entry)]
    for folder in config.offline_dirs:
        found += [folder / entry.id / entry.version / entry.file_name, folder / entry.file_name]
    return found


def find_local(config: StoreConfig, entry: CatalogueEntry, warn: Log = _noop,
               verify: bool = True) -> Path | None:
    """The first copy of the entry's file on this machine whose SHA-256 is the catalogue's
    (`verify=False`: whose size is, for quick listings). Verification stamps are written only in
    the models folder, never in the plugin's folder or an offline folder."""
    for path in _candidates(config, entry):
        if not path.is_file():
            continue
        if path.stat().st_size == entry.size and (not verify or file_sha256(
                path, remember=path.parent.is_relative_to(config.models_dir)) == entry.sha256):
            return path
        warn(f"{path} is not the file catalogue entry {entry.key} describes (size or SHA-256 "
             "differ); it is not used.")
    return None


def _write_entry(config: StoreConfig, entry: CatalogueEntry) -> None:
    data = dict(entry.raw)
    data["urls"] = list(entry.urls)  # already absolute: the entry must stand alone
    data.pop("embedded", None)
    data["installed_from_catalogue"] = entry.source
    (install_dir(config, entry) / ENTRY_FILE).write_text(json.dumps(data, indent=1),
                                                         encoding="utf-8")


def installed_entries(config: StoreConfig) -> list[CatalogueEntry]:
    """Entries of the models in the models folder, for when no catalogue lists them (offline)."""
    out = []
    for path in sorted(config.models_dir.glob(f"*/*/{ENTRY_FILE}")):
        try:
            out.append(parse_entry(json.loads(path.read_text(encoding="utf-8")), str(path), 0))
        except (CatalogueError, OSError, ValueError):
            continue
    return out


def fetch(
    config: StoreConfig,
    entry: CatalogueEntry,
    transport: Transport,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    info: Log = _noop,
    urls: Sequence[str] | None = None,
) -> Path:
    """Download (or copy from `urls`, e.g. an offline source) the entry into the models folder."""
    if entry.embedded and not urls:
        local = PLUGIN_MODELS / entry.file_name
        if local.is_file():
            return local
    dest = install_path(config, entry)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"Cannot create the models folder {dest.parent}: {exc.strerror}. "
                            "Choose another models folder in the UPSeg settings.") from None
    path = download(urls or entry.urls, dest, entry.size, entry.sha256, transport,
                    progress, is_cancelled, info)
    _write_entry(config, entry)
    return path


def offline_file(source: Path, entry: CatalogueEntry) -> Path:
    """The entry's file inside an offline `source` (the file itself, or a folder holding it)."""
    if source.is_file():
        return source
    for cand in (source / entry.id / entry.version / entry.file_name, source / entry.file_name):
        if cand.is_file():
            return cand
    if source.is_dir():
        hits = [p for p in source.rglob("*.onnx") if p.stat().st_size == entry.size]
        for p in hits:
            if file_sha256(p, remember=False) == entry.sha256:
                return p
    raise DownloadError(f"No file of catalogue entry {entry.key} ({entry.file_name}, "
                        f"{entry.size} bytes) in {source}.")


def remove(config: StoreConfig, entry: CatalogueEntry) -> bool:
    """Delete an installed model (its version folder); False when it was not installed."""
    folder = install_dir(config, entry)
    if not folder.is_dir():
        return False
    shutil.rmtree(folder)
    return True
