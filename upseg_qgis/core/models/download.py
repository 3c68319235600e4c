"""Download a model file in resumable chunks and verify it; the transport is given by the caller.

The plugin passes a transport that goes through QGIS's own network stack
(`upseg_qgis/plugin/network.py`, so QGIS's proxy, SSL and authentication settings apply); tests pass
their own. Everything else
lives here, without QGIS:

- The file grows as `<name>.part` beside its final place; `<name>.part.json` remembers which file
  (size, SHA-256) it is part of, so a later run resumes it with an HTTP Range request, and a part
  of another version is never continued.
- Chunks are asked for with `Range: bytes=a-b`. Every body is streamed to the part as it arrives
  (a `BodySink`), never held whole: a server that ignores Range answers 200 with the whole file
  (models may be 1 GB), which restarts the part from byte 0. 416 or a size that differs from the
  catalogue's are clear errors.
- Several URLs are mirrors: a server error on one moves on to the next, from the same byte.
- Cancelling keeps the part for the next run. At the end the SHA-256 is checked; a mismatch
  deletes the part and says so. Only a verified file is renamed into place.
- `<name>.part.lock` stops two downloads of one file at once (a stale lock is taken over).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from .. import locks
from .catalogue import local_path
from .checksum import ChecksumCancelledError, mark_verified, sha256_file

MIB = 1 << 20
DEFAULT_CHUNK = 4 * MIB
MAX_CHUNK = 16 * MIB  # bodies are streamed, so this bounds the request size, not memory
READ_SIZE = MIB  # the most a transport hands a sink at once
FAST_CHUNK_SECONDS = 2.0  # a chunk faster than this doubles the next one (fewer requests)
_NETWORK_HINT = ("Check the network (and QGIS's proxy settings under Settings > Options > "
                 "Network), or install the file offline (upseg:download_model with SOURCE).")


class DownloadError(RuntimeError):
    """The file could not be downloaded; the message says why and what to do."""


class ChecksumError(DownloadError):
    """The downloaded file is not the one the catalogue describes (it has been deleted)."""


class DownloadCancelledError(DownloadError):
    """The user cancelled; the partial file is kept for a later resume."""


@dataclass
class Response:
    status: int  # HTTP status; 0 when there was none (connection refused, DNS, ...)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    error: str = ""  # the transport's error text, "" when it reported none


class BodySink(Protocol):
    """Where a transport streams a response body, piece by piece, as it arrives."""

    def begin(self, status: int, headers: dict[str, str]) -> None:
        """The final status and headers (lower-case names), before any of the body."""
        ...

    def write(self, data: bytes) -> None:
        """The next piece of the body (a few KiB to READ_SIZE)."""
        ...


class Transport(Protocol):
    def get(self, url: str, start: int, end: int | None,
            sink: BodySink | None = None) -> Response:
        """GET `url`; with `start`/`end` (inclusive) as a Range request unless start == 0 and
        end is None. With `sink`, the body goes to it as it arrives and `Response.body` is
        empty; an exception the sink raises aborts the request and comes out of `get`.
        Raises DownloadCancelledError when the user cancels."""
        ...


class BufferSink:
    """Collects a body in memory: for small answers (catalogues), never for model files."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def begin(self, status: int, headers: dict[str, str]) -> None:
        self.pieces.clear()

    def write(self, data: bytes) -> None:
        self.pieces.append(bytes(data))

    def body(self) -> bytes:
        return b"".join(self.pieces)


class FileTransport:
    """Ranges of a local file (a share, a USB stick): same bookkeeping as HTTP."""

    def get(self, url: str, start: int, end: int | None,
            sink: BodySink | None = None) -> Response:
        path = local_path(url)
        if path is None or not path.is_file():
            return Response(0, error=f"no such file: {path or url}")
        total = path.stat().st_size
        stop = total if end is None else min(end + 1, total)
        headers = {"content-range": f"bytes {start}-{stop - 1}/{total}"}
        out = sink or BufferSink()
        out.begin(206, headers)
        with path.open("rb") as f:
            f.seek(start)
            while (left := stop - f.tell()) > 0 and (data := f.read(min(left, READ_SIZE))):
                out.write(data)
        return Response(206, out.body() if isinstance(out, BufferSink) else b"", headers)


@dataclass
class _Job:
    dest: Path
    size: int
    sha256: str
    transport: Transport
    progress: Callable[[float], None]
    is_cancelled: Callable[[], bool]
    info: Callable[[str], None]
    chunk: int
    max_chunk: int

    @property
    def part(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part")

    @property
    def state(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part.json")

    def have(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0


def _noop(*_args: object) -> None:
    return None


def _content_range(headers: dict[str, str]) -> tuple[int, int | None] | None:
    """(first byte, total size or None) of a `Content-Range: bytes a-b/total` header."""
    m = re.match(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)", headers.get("content-range", ""))
    if not m:
        return None
    return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))


def _describe(url: str, resp: Response) -> str:
    status = f"HTTP {resp.status}" if resp.status else "no answer"
    return f"{url}: {status}" + (f" ({resp.error})" if resp.error else "")


def _prepare_part(job: _Job) -> None:
    """Keep a part only if it belongs to this very file; otherwise start afresh."""
    want = {"size": job.size, "sha256": job.sha256}
    try:
        known = json.loads(job.state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = None
    if known != want or job.have() > job.size:
        job.part.unlink(missing_ok=True)
    job.dest.parent.mkdir(parents=True, exist_ok=True)
    job.state.write_text(json.dumps(want), encoding="utf-8")


class _PartWriter:
    """A `BodySink` that writes one answer into the part: a 206 is appended where the part ends,
    a 200 (Range ignored: the whole file) restarts the part at byte 0. Never past the
    catalogue's size; checks cancel and reports progress as the bytes arrive."""

    def __init__(self, job: _Job, url: str, offset: int) -> None:
        self.job, self.url, self.offset = job, url, offset
        self.status = 0
        self.start = offset  # where the body's first byte goes in the file
        self.written = 0
        self._file: BinaryIO | None = None
        self._reported = 0

    def begin(self, status: int, headers: dict[str, str]) -> None:
        job, self.status = self.job, status
        if status == 200:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) != job.size:
                raise DownloadError(f"{self.url}: the server sends {length} bytes, the "
                                    f"catalogue says {job.size}")
            if self.offset:
                job.info("The server does not resume downloads; the whole file comes again.")
            self.start = 0
            self._file = job.part.open("wb")  # restart: the body begins at byte 0
        elif status == 206:
            rng = _content_range(headers)
            if rng is not None and rng[1] is not None and rng[1] != job.size:
                raise DownloadError(f"{self.url}: the file there has {rng[1]} bytes, the "
                                    f"catalogue says {job.size} (is the catalogue out of date?)")
            if rng is not None and rng[0] != self.offset:
                raise DownloadError(f"{self.url}: the server answered a different byte range")
            self._file = job.part.open("ab")
        # Anything else is an error page: its body is not ours to keep.

    def write(self, data: bytes) -> None:
        if self._file is None:
            return
        job = self.job
        if job.is_cancelled():
            raise DownloadCancelledError("cancelled")
        room = job.size - self.start - self.written
        if len(data) > room:
            if self.status == 200:  # a whole file larger than the catalogue's: not this one
                self.discard()
                raise DownloadError(f"{self.url}: the server sends more than the {job.size} "
                                    f"bytes the catalogue says")
            data = memoryview(data)[:room]  # a 206 never past the end (no copy otherwise)
        self._file.write(data)
        self.written += len(data)
        if self.written - self._reported >= MIB:
            self._reported = self.written
            job.progress((self.start + self.written) / job.size)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        self.job.part.unlink(missing_ok=True)


def _fetch(job: _Job, url: str) -> None:
    """Fill the part from `url` up to the full size, chunk by chunk."""
    chunk = job.chunk
    restarted = False
    while (offset := job.have()) < job.size:
        if job.is_cancelled():
            raise DownloadCancelledError("cancelled")
        end = min(offset + chunk, job.size) - 1
        started = time.monotonic()
        writer = _PartWriter(job, url, offset)
        try:
            resp = job.transport.get(url, offset, end, writer)
        finally:
            writer.close()
        if resp.status == 416 and not restarted:  # our part is longer than the server's file
            job.part.unlink(missing_ok=True)
            restarted = True
            continue
        if resp.error or resp.status not in (200, 206):
            raise DownloadError(_describe(url, resp))
        if resp.status == 200 and writer.written != job.size:
            writer.discard()  # a whole file of another size: not the catalogue's
            raise DownloadError(f"{url}: the server sent {writer.written} bytes, the "
                                f"catalogue says {job.size}")
        if not writer.written:
            raise DownloadError(f"{url}: the server answered a different byte range")
        job.progress(job.have() / job.size)
        if time.monotonic() - started < FAST_CHUNK_SECONDS:
            chunk = min(chunk * 2, job.max_chunk)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock file (`locks`); a lock whose process is gone is taken over."""
    lock = path.with_name(path.name + ".part.lock")
    try:
        locks.acquire(lock)
    except locks.LockHeldError as held:
        raise DownloadError(f"{path.name} is being downloaded by another QGIS. {held}") from None
    try:
        yield
    finally:
        locks.release(lock)


def _verify(job: _Job) -> None:
    try:
        digest = sha256_file(job.part, is_cancelled=job.is_cancelled)
    except ChecksumCancelledError:
        raise DownloadCancelledError("cancelled while checking the file") from None
    if digest != job.sha256:
        job.part.unlink(missing_ok=True)
        job.state.unlink(missing_ok=True)
        raise ChecksumError(
            f"The downloaded file's SHA-256 is {digest}, but the catalogue says {job.sha256}: "
            f"it is not the file the catalogue describes (corrupted on the way, or the file on "
            f"the server was replaced). The download was deleted. Try again; if it happens "
            f"again, tell the catalogue's maintainer."
        )
    os.replace(job.part, job.dest)
    job.state.unlink(missing_ok=True)
    mark_verified(job.dest, digest)


def download(
    urls: Sequence[str],
    dest: str | Path,
    size: int,
    sha256: str,
    transport: Transport,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    info: Callable[[str], None] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    max_chunk: int = MAX_CHUNK,
) -> Path:
    """Download `dest` from the first of `urls` that works, resuming a part left by an earlier
    run, and verify its SHA-256. Local paths and file:// URLs are copied the same way."""
    job = _Job(Path(dest), size, sha256.lower(), transport, progress or _noop,
               is_cancelled or (lambda: False), info or _noop, chunk_size,
               max(max_chunk, chunk_size))
    errors: list[str] = []
    with _lock(job.dest):
        _prepare_part(job)
        if job.have():
            job.info(f"Resuming {job.dest.name} at {job.have() / MIB:.1f} of "
                     f"{size / MIB:.1f} MiB.")
        for url in urls:
            via = FileTransport() if local_path(url) is not None else transport
            try:
                _fetch(_replace_transport(job, via), url)
                break
            except DownloadCancelledError:
                raise DownloadCancelledError(
                    f"Download of {job.dest.name} cancelled at {job.have() / MIB:.1f} of "
                    f"{size / MIB:.1f} MiB; the part is kept and the next run resumes it."
                ) from None
            except DownloadError as exc:
                errors.append(str(exc))
                if len(urls) > 1:
                    job.info(f"{exc}; trying the next URL.")
        else:
            raise DownloadError(
                f"Could not download {job.dest.name}: " + "; ".join(errors) + ". "
                + (f"{job.have() / MIB:.1f} MiB are kept and the next run resumes from there. "
                   if job.have() else "")
                + (_NETWORK_HINT if any(local_path(u) is None for u in urls) else
                   "Check that the file is the one the catalogue describes.")
            )
        _verify(job)
    return job.dest


def _replace_transport(job: _Job, transport: Transport) -> _Job:
    if transport is job.transport:
        return job
    return _Job(job.dest, job.size, job.sha256, transport, job.progress, job.is_cancelled,
                job.info, job.chunk, job.max_chunk)
