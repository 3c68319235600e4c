"""Download bookkeeping without QGIS or a network: resume, Range quirks, mirrors, checksum,
cancel, locks, the models folder and MODEL id resolution (a fake transport serves bytes)."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from upseg_qgis.core.engine.session import DEFAULT_MODEL
from upseg_qgis.core.models.catalogue import parse_catalogue
from upseg_qgis.core.models.download import (
    ChecksumError,
    DownloadCancelledError,
    DownloadError,
    Response,
    download,
)
from upseg_qgis.core.models.resolve import ModelNotFoundError, describe_model, resolve_model
from upseg_qgis.core.models.store import (
    SHIPPED_CATALOGUE,
    StoreConfig,
    fetch,
    install_path,
    installed_entries,
    offline_file,
)

if TYPE_CHECKING:
    from upseg_qgis.core.models.download import BodySink

DATA = bytes(range(256)) * 400  # 102400 bytes
SHA = hashlib.sha256(DATA).hexdigest()


class FakeServer:
    """Serves DATA (or per-URL overrides) like an HTTP server; records the ranges asked for."""

    def __init__(self, body: bytes = DATA, status: dict[str, int] | None = None,
                 ignore_range: bool = False, total: int | None = None) -> None:
        self.body, self.status = body, status or {}
        self.ignore_range, self.total = ignore_range, total
        self.calls: list[tuple[str, int, int | None]] = []

    def get(self, url: str, start: int, end: int | None,
            sink: BodySink | None = None) -> Response:
        self.calls.append((url, start, end))
        resp = self._answer(url, start, end)
        if sink is None:
            return resp
        sink.begin(resp.status, resp.headers)
        for i in range(0, len(resp.body), 4096):  # as a network delivers it: in pieces
            sink.write(resp.body[i:i + 4096])
        return Response(resp.status, b"", resp.headers, resp.error)

    def _answer(self, url: str, start: int, end: int | None) -> Response:
        if url in self.status:
            return Response(self.status[url], error="Internal Server Error")
        if self.ignore_range:
            return Response(200, self.body, {"content-length": str(len(self.body))})
        if start >= len(self.body):
            return Response(416, error="Range Not Satisfiable")
        stop = len(self.body) if end is None else min(end + 1, len(self.body))
        total = self.total or len(self.body)
        return Response(206, self.body[start:stop],
                        {"content-range": f"bytes {start}-{stop - 1}/{total}"})


def _get(server: FakeServer, dest: Path, **kw: object) -> Path:
    kw.setdefault("chunk_size", 16384)
    kw.setdefault("max_chunk", 16384)
    return download(kw.pop("urls", ["https://a/m.onnx"]), dest, len(DATA),  # type: ignore[arg-type]
                    kw.pop("sha", SHA), server, **kw)  # type: ignore[arg-type]


def test_resume_asks_only_for_the_missing_bytes(tmp_path: Path) -> None:
    dest = tmp_path / "m.onnx"
    server = FakeServer()
    with pytest.raises(DownloadCancelledError, match="part is kept"):
        # Cancel checked as bytes arrive: the third chunk stops before its first byte.
        _get(server, dest, is_cancelled=lambda: len(server.calls) >= 3)
    part = tmp_path / "m.onnx.part"
    assert part.stat().st_size == 2 * 16384 and not dest.exists()
    server.calls.clear()
    notes: list[str] = []
    assert _get(server, dest, info=notes.append) == dest
    assert server.calls[0][1] == 2 * 16384  # Range starts where the part ends
    assert sum((e or 0) - s + 1 for _, s, e in server.calls) == len(DATA) - 2 * 16384
    assert dest.read_bytes() == DATA and not part.exists()
    assert any("Resuming" in n for n in notes)
    assert not (tmp_path / "m.onnx.part.json").exists()


def test_a_part_of_another_file_is_not_continued(tmp_path: Path) -> None:
    dest = tmp_path / "m.onnx"
    (tmp_path / "m.onnx.part").write_bytes(b"x" * 5000)
    (tmp_path / "m.onnx.part.json").write_text(json.dumps({"size": 5, "sha256": "0" * 64}))
    server = FakeServer()
    _get(server, dest)
    assert server.calls[0][1] == 0 and dest.read_bytes() == DATA


def test_server_without_range_support_and_range_errors(tmp_path: Path) -> None:
    dest = tmp_path / "m.onnx"
    (tmp_path / "m.onnx.part").write_bytes(DATA[:1000])
    (tmp_path / "m.onnx.part.json").write_text(json.dumps({"size": len(DATA), "sha256": SHA}))
    notes: list[str] = []
    _get(FakeServer(ignore_range=True), dest, info=notes.append)
    assert dest.read_bytes() == DATA
    assert any("does not resume" in n for n in notes)
    # The server's file is not the size the catalogue says: refuse, write nothing.
    dest2 = tmp_path / "n.onnx"
    with pytest.raises(DownloadError, match="catalogue says 102400"):
        _get(FakeServer(total=999), dest2)
    assert not (tmp_path / "n.onnx.part").exists() or \
        (tmp_path / "n.onnx.part").stat().st_size == 0


class DiskServerIgnoringRange:
    """A server without Range support whose (synthetic) file lies on disk: every answer is 200
    with the whole file, streamed in 64 KiB pieces to a caller that gives a sink; a caller
    without one gets the whole body in memory, as a buffering client would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls: list[tuple[str, int, int | None]] = []

    def get(self, url: str, start: int, end: int | None,
            sink: BodySink | None = None) -> Response:
        self.calls.append((url, start, end))
        headers = {"content-length": str(self.path.stat().st_size)}
        if sink is None:
            return Response(200, self.path.read_bytes(), headers)
        sink.begin(200, headers)
        with self.path.open("rb") as f:
            while data := f.read(65536):
                sink.write(data)
        return Response(200, b"", headers)


def test_a_server_ignoring_range_is_streamed_to_disk_not_held(tmp_path: Path) -> None:
    size = 12 * 2**20
    src = tmp_path / "synthetic_model.bin"
    with src.open("wb") as f:  # synthetic bytes, written in pieces
        for i in range(12):
            f.write(np.random.default_rng(i).bytes(2**20))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "m.onnx"
    dest.parent.mkdir()
    (dest.parent / "m.onnx.part").write_bytes(src.read_bytes()[:2**20])  # an earlier run
    (dest.parent / "m.onnx.part.json").write_text(json.dumps({"size": size, "sha256": sha}))
    server, notes = DiskServerIgnoringRange(src), []
    tracemalloc.start()
    try:
        download(["https://a/m.onnx"], dest, size, sha, server, info=notes.append,
                 chunk_size=256 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert dest.read_bytes() == src.read_bytes()  # the checksum was verified too
    assert len(server.calls) == 1 and server.calls[0][1] == 2**20  # asked to resume
    assert any("does not resume" in n for n in notes)
    # The checksum reads 1 MiB blocks (two alive at once); the body never whole (12 MiB).
    assert peak < size / 4, f"{peak} bytes held at once for a {size}-byte file"
    # A whole file of another size: refused, and nothing of it kept.
    with pytest.raises(DownloadError, match="catalogue says"):
        download(["https://a/m.onnx"], tmp_path / "n.onnx", size - 1, sha, server)
    assert not (tmp_path / "n.onnx.part").exists()


def test_mirrors_and_server_errors(tmp_path: Path) -> None:
    server = FakeServer(status={"https://a/m.onnx": 500})
    notes: list[str] = []
    _get(server, tmp_path / "m.onnx", urls=["https://a/m.onnx", "https://b/m.onnx"],
         info=notes.append)
    assert (tmp_path / "m.onnx").read_bytes() == DATA
    assert any("HTTP 500" in n and "next URL" in n for n in notes)
    dead = FakeServer(status={"https://a/m.onnx": 503, "https://b/m.onnx": 404})
    with pytest.raises(DownloadError) as err:
        _get(dead, tmp_path / "x.onnx", urls=["https://a/m.onnx", "https://b/m.onnx"])
    assert "https://a/m.onnx: HTTP 503" in str(err.value)
    assert "https://b/m.onnx: HTTP 404" in str(err.value)
    assert "proxy" in str(err.value)


def test_checksum_mismatch_deletes_the_download(tmp_path: Path) -> None:
    dest = tmp_path / "m.onnx"
    with pytest.raises(ChecksumError) as err:
        _get(FakeServer(), dest, sha="1" * 64)
    assert SHA in str(err.value) and "deleted" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_lock_stops_a_second_download_and_stale_locks_are_taken_over(tmp_path: Path) -> None:
    dest = tmp_path / "m.onnx"
    lock = tmp_path / "m.onnx.part.lock"
    lock.write_text(str(os.getppid()))  # a live process that is not us
    with pytest.raises(DownloadError, match="another QGIS"):
        _get(FakeServer(), dest)
    lock.write_text("999999999")  # no such process
    _get(FakeServer(), dest)
    assert dest.read_bytes() == DATA and not lock.exists()


def test_local_file_sources_are_copied_and_verified(tmp_path: Path) -> None:
    src = tmp_path / "share" / "m.onnx"
    src.parent.mkdir()
    src.write_bytes(DATA)
    server = FakeServer()
    _get(server, tmp_path / "m.onnx", urls=[src.as_uri()])
    assert (tmp_path / "m.onnx").read_bytes() == DATA and server.calls == []


# --- the models folder and MODEL resolution --------------------------------------------------

def _team_catalogue(tmp_path: Path, model: Path, url: str) -> Path:
    data = json.loads(SHIPPED_CATALOGUE.read_text())
    entry = data["models"][0]
    entry.pop("embedded")
    entry.update(id="team-water", file_name="team-water.onnx", urls=[url])
    cat = tmp_path / "team.json"
    cat.write_text(json.dumps(data))
    return cat


class ModelServer(FakeServer):
    def __init__(self) -> None:
        super().__init__(body=DEFAULT_MODEL.read_bytes())


def test_resolve_ids_download_once_then_offline(tmp_path: Path) -> None:
    cat = _team_catalogue(tmp_path, DEFAULT_MODEL, "https://a/team-water.onnx")
    config = StoreConfig(tmp_path / "models", catalogues=(str(cat),))
    server = ModelServer()
    first = resolve_model("team-water", config, server)
    version = json.loads(SHIPPED_CATALOGUE.read_text())["models"][0]["version"]
    assert first.path == config.models_dir / "team-water" / version / "team-water.onnx"
    assert first.path.read_bytes() == DEFAULT_MODEL.read_bytes() and server.calls
    server.calls.clear()
    again = resolve_model("team-water", config, None)  # no network at all now
    assert again.path == first.path and server.calls == []
    # The catalogue is gone: the installed entry still resolves the id.
    cat.unlink()
    notes: list[str] = []
    assert resolve_model("team-water", config, None, info=notes.append).path == first.path
    assert [e.id for e in installed_entries(config)] == ["team-water"]
    assert any("installed earlier" in n for n in notes)


def test_resolve_paths_defaults_and_errors(tmp_path: Path) -> None:
    config = StoreConfig(tmp_path / "models")
    assert resolve_model("", config).path is None
    assert resolve_model(str(DEFAULT_MODEL), config).path == DEFAULT_MODEL
    assert resolve_model("upseg-tiny-ombria-water", config).path == DEFAULT_MODEL  # embedded
    assert not DEFAULT_MODEL.with_name(DEFAULT_MODEL.name + ".sha256").exists()  # not our folder
    with pytest.raises(ModelNotFoundError, match="known ids: upseg-tiny-ombria-water"):
        resolve_model("no-such-model", config)
    with pytest.raises(ModelNotFoundError, match="is a folder"):
        resolve_model(str(tmp_path), config)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "x.onnx"), config)
    cat = _team_catalogue(tmp_path, DEFAULT_MODEL, "https://a/team-water.onnx")
    offline = StoreConfig(tmp_path / "models", catalogues=(str(cat),),
                          download_on_first_use=False)
    with pytest.raises(ModelNotFoundError, match="downloads on first use are off"):
        resolve_model("team-water", offline, ModelServer())


def test_offline_folder_and_wrong_copies(tmp_path: Path) -> None:
    cat = _team_catalogue(tmp_path, DEFAULT_MODEL, "https://a/team-water.onnx")
    share = tmp_path / "share"
    share.mkdir()
    (share / "team-water.onnx").write_bytes(DEFAULT_MODEL.read_bytes())
    config = StoreConfig(tmp_path / "models", offline_dirs=(share,), catalogues=(str(cat),))
    assert resolve_model("team-water", config, None).path == share / "team-water.onnx"
    assert sorted(p.name for p in share.iterdir()) == ["team-water.onnx"]  # no stamp written
    # A different file under the right name is reported, not used, and the model downloaded.
    (share / "team-water.onnx").write_bytes(b"not the model")
    warnings: list[str] = []
    entry = parse_catalogue(cat.read_bytes(), str(cat)).entries[0]
    path = resolve_model("team-water", config, ModelServer(), warn=warnings.append).path
    assert path == install_path(config, entry)
    assert any("is not the file" in w for w in warnings)
    # Offline install: from a folder holding the file (found by its SHA-256, any name).
    other = StoreConfig(tmp_path / "models2")
    usb = tmp_path / "usb" / "sub"
    usb.mkdir(parents=True)
    (usb / "renamed.onnx").write_bytes(DEFAULT_MODEL.read_bytes())
    src = offline_file(tmp_path / "usb", entry)
    installed = fetch(other, entry, ModelServer(), urls=[str(src)])
    assert installed == install_path(other, entry) and installed.read_bytes() == src.read_bytes()
    with pytest.raises(DownloadError, match="No file of catalogue entry team-water"):
        offline_file(cat.parent / "usb" / "sub" / "none", entry)
    # A wrong file offered offline is refused; the user's file is left alone.
    with pytest.raises(DownloadError, match="has 13 bytes, the catalogue says") as err:
        fetch(StoreConfig(tmp_path / "m3"), entry, ModelServer(),
              urls=[str(offline_file(share, entry))])
    assert "proxy" not in str(err.value)
    same_size = bytes(entry.size)
    (share / "team-water.onnx").write_bytes(same_size)
    with pytest.raises(ChecksumError):
        fetch(StoreConfig(tmp_path / "m3"), entry, ModelServer(),
              urls=[str(offline_file(share, entry))])
    assert (share / "team-water.onnx").read_bytes() == same_size


def test_describe_a_model_that_is_not_here(tmp_path: Path) -> None:
    cat = _team_catalogue(tmp_path, DEFAULT_MODEL, "https://a/team-water.onnx")
    config = StoreConfig(tmp_path / "models", catalogues=(str(cat),))
    text = describe_model("team-water", config).to_text()
    assert "not on this machine yet" in text and "https://a/team-water.onnx" in text
    assert "water" in text and "#0070ff" in text
    full = describe_model("", config).to_text()
    assert "Normalisation" in full and "Catalogue id: upseg-tiny-ombria-water" in full
