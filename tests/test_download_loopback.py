"""Downloads through QGIS's own network stack (QgsNetworkAccessManager, streamed) from an HTTP
server on 127.0.0.1 started by the test: resume, a server that ignores Range (bounded memory),
checksum mismatch, server errors, cancel in flight, and upseg:download_model /
upseg:model_info with a catalogue served over HTTP."""

from __future__ import annotations

import hashlib
import json
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tests.loopback_server import LoopbackServer, Served
from upseg_qgis.core.engine.session import DEFAULT_MODEL
from upseg_qgis.core.models.download import (
    ChecksumError,
    DownloadCancelledError,
    DownloadError,
    download,
)
from upseg_qgis.core.models.store import SHIPPED_CATALOGUE

BODY = DEFAULT_MODEL.read_bytes()
SHA = hashlib.sha256(BODY).hexdigest()
CHUNK = 256 * 1024


@pytest.fixture
def server() -> Any:
    with LoopbackServer(lifetime=120) as s:
        yield s


def _get(url: str, dest: Path, feedback: Any = None, sha: str = SHA, **kw: Any) -> Path:
    from upseg_qgis.plugin.network import QgisTransport

    return download([url] if isinstance(url, str) else url, dest, len(BODY), sha,
                    QgisTransport(feedback), chunk_size=CHUNK, max_chunk=CHUNK, **kw)


def test_resume_from_a_partial_download(qgis_app: Any, server: LoopbackServer,
                                        tmp_path: Path) -> None:
    server.files["/m.onnx"] = Served(BODY)
    dest = tmp_path / "m.onnx"
    have = 700_000
    (tmp_path / "m.onnx.part").write_bytes(BODY[:have])
    (tmp_path / "m.onnx.part.json").write_text(json.dumps({"size": len(BODY), "sha256": SHA}))
    assert _get(server.url("/m.onnx"), dest).read_bytes() == BODY
    assert server.requests[0].range == f"bytes={have}-{have + CHUNK - 1}"
    assert sum(r.sent for r in server.requests) == len(BODY) - have
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.sha256"]


def test_a_redirect_is_followed_and_keeps_the_range(qgis_app: Any, server: LoopbackServer,
                                                    tmp_path: Path) -> None:
    # An absolute Location, as GitHub and CDNs send, and a relative one. Qt's network manager
    # resolves both; QgsBlockingNetworkRequest (used before downloads streamed) failed on the
    # relative one on QGIS 3.40 ('Protocol "" is unknown').
    server.files["/release/m.onnx"] = Served(b"", redirect=server.url("/cdn/m.onnx"))
    server.files["/cdn/m.onnx"] = Served(BODY)
    server.files["/rel/m.onnx"] = Served(b"", redirect="../cdn/m.onnx")
    for start, name in (("/release/m.onnx", "a"), ("/rel/m.onnx", "b")):
        server.requests.clear()
        assert _get(server.url(start), tmp_path / name / "m.onnx").read_bytes() == BODY
        ranged = [r for r in server.requests if r.path == "/cdn/m.onnx"]
        assert ranged and all(r.range and r.range.startswith("bytes=") for r in ranged)
        assert sum(r.sent for r in ranged) == len(BODY)


def test_a_server_ignoring_range_streams_the_whole_file_to_disk(
        qgis_app: Any, server: LoopbackServer, tmp_path: Path) -> None:
    import numpy as np

    from upseg_qgis.plugin.network import QgisTransport

    size = 16 * 2**20  # synthetic bytes; a real model may be 1 GB
    body = np.random.default_rng(7).bytes(size)
    sha = hashlib.sha256(body).hexdigest()
    server.files["/big.onnx"] = Served(body, ignore_range=True)
    dest = tmp_path / "big.onnx"
    (tmp_path / "big.onnx.part").write_bytes(body[:2**20])  # left by an earlier run
    (tmp_path / "big.onnx.part.json").write_text(json.dumps({"size": size, "sha256": sha}))
    notes: list[str] = []
    tracemalloc.start()
    try:
        download([server.url("/big.onnx")], dest, size, sha, QgisTransport(),
                 info=notes.append, chunk_size=CHUNK, max_chunk=CHUNK)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
    assert [r.range for r in server.requests] == [f"bytes={2**20}-{2**20 + CHUNK - 1}"]
    assert server.requests[0].sent == size and any("does not resume" in n for n in notes)
    assert peak < size / 4, f"{peak} bytes held at once for a {size}-byte answer"


def test_checksum_mismatch_deletes_and_says_so(qgis_app: Any, server: LoopbackServer,
                                               tmp_path: Path) -> None:
    server.files["/m.onnx"] = Served(BODY[:-1] + b"\0")  # one byte differs
    with pytest.raises(ChecksumError) as err:
        _get(server.url("/m.onnx"), tmp_path / "m.onnx")
    assert "was deleted" in str(err.value) and SHA in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_server_errors_and_a_working_mirror(qgis_app: Any, server: LoopbackServer,
                                            tmp_path: Path) -> None:
    server.files["/broken.onnx"] = Served(b"", status=500)
    with pytest.raises(DownloadError) as err:
        _get([server.url("/broken.onnx"), server.url("/missing.onnx")], tmp_path / "m.onnx")
    assert f"{server.url('/broken.onnx')}: HTTP 500" in str(err.value)
    assert f"{server.url('/missing.onnx')}: HTTP 404" in str(err.value)
    assert not (tmp_path / "m.onnx").exists()
    server.files["/m.onnx"] = Served(BODY)
    notes: list[str] = []
    _get([server.url("/broken.onnx"), server.url("/m.onnx")], tmp_path / "m.onnx",
         info=notes.append)
    assert (tmp_path / "m.onnx").read_bytes() == BODY
    assert any("HTTP 500" in n and "trying the next URL" in n for n in notes)


def test_cancel_in_flight_then_resume(qgis_app: Any, server: LoopbackServer,
                                      tmp_path: Path) -> None:
    from qgis.core import QgsFeedback

    # The second chunk stalls half-way; the user cancels while it hangs.
    server.files["/m.onnx"] = Served(BODY)
    dest = tmp_path / "m.onnx"
    feedback = QgsFeedback()
    stalling = Served(BODY, stall_after=CHUNK // 2)

    def progress(_fraction: float) -> None:
        server.files["/m.onnx"] = stalling  # after the first chunk

    canceller = threading.Thread(target=lambda: server.state.stalled.wait(20) and
                                 feedback.cancel(), daemon=True)
    canceller.start()
    with pytest.raises(DownloadCancelledError, match="next run resumes"):
        _get(server.url("/m.onnx"), dest, feedback, progress=progress)
    server.state.release.set()
    canceller.join(5)
    # Bodies are streamed to the part: the first chunk and the half that came before the
    # stall are kept.
    kept = CHUNK + CHUNK // 2
    assert (tmp_path / "m.onnx.part").stat().st_size == kept
    assert not dest.exists()
    server.files["/m.onnx"] = Served(BODY)
    before = len(server.requests)
    assert _get(server.url("/m.onnx"), dest).read_bytes() == BODY
    assert server.requests[before].range == f"bytes={kept}-{kept + CHUNK - 1}"


def _team_catalogue(server: LoopbackServer, model_id: str = "team-water") -> str:
    data = json.loads(SHIPPED_CATALOGUE.read_text(encoding="utf-8"))
    entry = data["models"][0]
    entry.pop("embedded")
    entry.update(id=model_id, file_name=f"{model_id}.onnx", urls=[f"files/{model_id}.onnx"])
    server.files["/team/catalogue.json"] = Served(json.dumps(data).encode())
    server.files[f"/team/files/{model_id}.onnx"] = Served(BODY)
    return server.url("/team/catalogue.json")


def test_download_model_and_model_info_with_a_remote_catalogue(
    upseg_plugin: Any, server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import processing

    monkeypatch.setenv("UPSEG_MODELS_DIR", str(tmp_path / "models"))
    catalogue = _team_catalogue(server)
    res = processing.run("upseg:download_model", {"MODEL": "team-water",
                                                  "CATALOGUE": catalogue})
    version = json.loads(SHIPPED_CATALOGUE.read_text())["models"][0]["version"]
    path = tmp_path / "models" / "team-water" / version / "team-water.onnx"
    assert res["MODEL_FILE"] == str(path) and path.read_bytes() == BODY
    assert res["MODEL_ID"] == f"team-water@{version}" and res["SHA256"] == SHA
    assert any(r.path == "/team/files/team-water.onnx" for r in server.requests)
    # Again: nothing is downloaded.
    before = [r.path for r in server.requests]
    processing.run("upseg:download_model", {"MODEL": "team-water", "CATALOGUE": catalogue})
    assert [r.path for r in server.requests[len(before):]] == ["/team/catalogue.json"]
    # Offline now: the copy of the catalogue and the installed file are enough.
    server.stop()
    html = tmp_path / "info.html"
    info = processing.run("upseg:model_info", {"MODEL": "team-water", "CATALOGUE": catalogue,
                                               "OUTPUT_HTML": str(html)})
    assert info["MODEL_NAME"].startswith("UPSeg-tiny water")
    from qgis.core import QgsApplication  # the report goes to the Results Viewer (HTML output)

    alg = QgsApplication.processingRegistry().algorithmById("upseg:model_info")
    assert alg.outputDefinition("OUTPUT_HTML").type() == "outputHtml"
    page = html.read_text(encoding="utf-8")
    assert "team-water" in page and str(path) in page and "background-color:#0070ff" in page


def test_download_model_offline_source_and_errors(
    upseg_plugin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import processing
    from qgis.core import QgsProcessingException

    monkeypatch.setenv("UPSEG_MODELS_DIR", str(tmp_path / "models"))
    cat = tmp_path / "team.json"
    data = json.loads(SHIPPED_CATALOGUE.read_text(encoding="utf-8"))
    data["models"][0].pop("embedded")
    data["models"][0].update(id="team-water", file_name="team-water.onnx",
                             urls=["https://unreachable.invalid/team-water.onnx"])
    cat.write_text(json.dumps(data))
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "copy.onnx").write_bytes(BODY)
    res = processing.run("upseg:download_model", {"MODEL": "team-water", "CATALOGUE": str(cat),
                                                  "SOURCE": str(usb)})
    assert Path(res["MODEL_FILE"]).read_bytes() == BODY
    with pytest.raises(QgsProcessingException, match="Known ids: team-water"):
        processing.run("upseg:download_model", {"MODEL": "nope", "CATALOGUE": str(cat)})
