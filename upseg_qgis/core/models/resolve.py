"""MODEL as the user gives it (a file, a catalogue id, or nothing) -> the .onnx file to run.

Order for an id: the catalogues known without the network (the plugin's own, local files, the
last copy of remote ones) and the files already on this machine; only when that is not enough are
remote catalogues fetched again, and only then is the model downloaded (if downloads on first use
are allowed). A model installed earlier still runs when no catalogue lists it any more or the
network is gone (its entry is kept beside it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..contract.onnx_props import read_model_metadata
from ..engine.session import DEFAULT_MODEL
from .catalogue import Catalogue, CatalogueEntry, all_entries, find_entry, is_url
from .download import Transport
from .report import Report, entry_report, metadata_report
from .store import (
    PLUGIN_MODELS,
    CatalogueSet,
    StoreConfig,
    fetch,
    find_local,
    installed_entries,
    load_catalogues,
    shipped_catalogue,
)

Log = Callable[[str], None]
MIB = 1 << 20


class ModelNotFoundError(LookupError):
    """MODEL names no file and no catalogue model; the message lists what there is."""


@dataclass(frozen=True)
class ResolvedModel:
    path: Path | None  # None: the embedded default model
    entry: CatalogueEntry | None = None
    note: str = ""  # how it was found, for the log


def _noop(*_args: object) -> None:
    return None


def looks_like_path(value: str) -> bool:
    """A file path rather than a catalogue id (ids have no separators and no .onnx)."""
    return any(sep in value for sep in ("/", "\\")) or value.lower().endswith(".onnx") \
        or Path(value).expanduser().exists()


def _as_file(value: str) -> ResolvedModel:
    path = Path(value).expanduser()
    if path.is_dir():
        raise ModelNotFoundError(
            f"MODEL {path} is a folder. Give an .onnx file or a catalogue model id; to use "
            "models from an offline folder, add the folder to the UPSeg settings (Offline model "
            "folders) or install from it with upseg:download_model (SOURCE)."
        )
    if not path.is_file():
        raise ModelNotFoundError(f"MODEL file {path} does not exist. Choose an .onnx file, "
                                 "or give a catalogue model id.")
    return ResolvedModel(path, None, f"model file {path}")


def _known_ids(cats: CatalogueSet, config: StoreConfig) -> str:
    ids = sorted({e.id for e in all_entries(cats.catalogues)}
                 | {e.id for e in installed_entries(config)})
    return ", ".join(ids) or "none"


def lookup(
    value: str,
    config: StoreConfig,
    transport: Transport | None = None,
    extra_catalogues: Sequence[str] = (),
    info: Log = _noop,
    warn: Log = _noop,
) -> ResolvedModel:
    """The catalogue entry of an id and its file on this machine (`path` None: not here yet).
    Never downloads a model; fetches remote catalogues again only when the id is not found
    locally. ModelNotFoundError when no catalogue (and no installed model) has the id."""
    cats = load_catalogues(config, extra_catalogues, transport, refresh=False, warn=warn)
    entry = find_entry(cats.catalogues, value)
    local = find_local(config, entry, warn) if entry else None
    remote = any(is_url(c) for c in [*extra_catalogues, *config.catalogues])
    if local is None and remote and transport is not None:
        cats = load_catalogues(config, extra_catalogues, transport, refresh=True, warn=warn)
        entry = find_entry(cats.catalogues, value) or entry
        local = find_local(config, entry, warn) if entry else None
    if entry is None:
        for problem in cats.problems:  # a catalogue that could not be read may be why
            warn(problem)
        entry = find_entry([_installed(config)], value)
        if entry is not None:
            local = find_local(config, entry, warn)
            info(f"No catalogue lists '{value}' any more; using the copy installed earlier.")
    if entry is None:
        raise ModelNotFoundError(
            f"MODEL '{value}' is neither an .onnx file nor a model id in the catalogues "
            f"(known ids: {_known_ids(cats, config)}). Check the spelling, or add the "
            "catalogue that lists it in the UPSeg settings."
        )
    note = f"catalogue model {entry.key}: {local}" if local else f"catalogue model {entry.key}"
    return ResolvedModel(local, entry, note)


def resolve_model(
    value: str | None,
    config: StoreConfig,
    transport: Transport | None = None,
    extra_catalogues: Sequence[str] = (),
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    info: Log = _noop,
    warn: Log = _noop,
) -> ResolvedModel:
    """Resolve MODEL to a file, downloading a catalogue model on first use (if allowed).
    `transport` None means no network: ids resolve only to files already here."""
    value = (value or "").strip()
    if not value:
        return ResolvedModel(None, None, "the embedded default model")
    if looks_like_path(value):
        return _as_file(value)
    found = lookup(value, config, transport, extra_catalogues, info, warn)
    if found.path is not None or found.entry is None:
        return found
    return _download(found.entry, config, transport, progress, is_cancelled, info)


def _installed(config: StoreConfig) -> Catalogue:
    return Catalogue("installed models", str(config.models_dir),
                     tuple(installed_entries(config)))


def _download(
    entry: CatalogueEntry,
    config: StoreConfig,
    transport: Transport | None,
    progress: Callable[[float], None] | None,
    is_cancelled: Callable[[], bool] | None,
    info: Log,
) -> ResolvedModel:
    if transport is None or not config.download_on_first_use:
        raise ModelNotFoundError(
            f"Model {entry.key} ({entry.name}, {entry.size / MIB:.1f} MiB) is not on this "
            "machine and downloads on first use are off. Download it with "
            f"upseg:download_model (MODEL={entry.id}), or install it from a file or folder "
            "you already have (SOURCE), or add that folder to the UPSeg settings."
        )
    info(f"Downloading {entry.key} ({entry.size / MIB:.1f} MiB) into {config.models_dir} "
         "(first use).")
    path = fetch(config, entry, transport, progress, is_cancelled, info)
    info(f"Downloaded and verified (SHA-256 {entry.sha256[:12]}...): {path}")
    return ResolvedModel(path, entry, f"catalogue model {entry.key}: {path} (downloaded now)")


def embedded_entry() -> CatalogueEntry | None:
    """The plugin's own catalogue entry of the embedded default model."""
    return next((e for e in shipped_catalogue().entries if e.embedded
                 and (PLUGIN_MODELS / e.file_name) == DEFAULT_MODEL), None)


def describe_model(
    value: str | None,
    config: StoreConfig,
    transport: Transport | None = None,
    extra_catalogues: Sequence[str] = (),
    compact: bool = False,
    info: Log = _noop,
    warn: Log = _noop,
) -> Report:
    """The report of what MODEL expects and produces; never downloads. A catalogue model that
    is not here yet is described by its catalogue entry."""
    value = (value or "").strip()
    if not value:
        path: Path | None = DEFAULT_MODEL
        entry = embedded_entry()
    elif looks_like_path(value):
        path, entry = _as_file(value).path, None
    else:
        found = lookup(value, config, transport, extra_catalogues, info, warn)
        path, entry = found.path, found.entry
    if path is not None:
        return metadata_report(read_model_metadata(path), path, entry, compact)
    assert entry is not None
    status = ("not on this machine yet: upseg:download_model downloads it, or upseg:segment "
              "on first use" if config.download_on_first_use else
              "not on this machine yet: upseg:download_model downloads it")
    return entry_report(entry, status)
