"""A small HTTP server on 127.0.0.1 for download tests: serves files from memory with Range
support, records every request, and can fail, ignore Range or stall on purpose.

It runs in a daemon thread of the test process and always stops: `with LoopbackServer() as s`
shuts it down on exit, and a watchdog shuts it down after `lifetime` seconds whatever happens.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Served:
    body: bytes
    status: int = 0  # non-zero: always answer this status (e.g. 500) with no body
    ignore_range: bool = False  # answer 200 with the whole body, like a server without Range
    stall_after: int | None = None  # send this many bytes, then wait for `release` (bounded)
    redirect: str | None = None  # answer 302 to this path (like a release asset on a CDN)


@dataclass
class Request:
    path: str
    range: str | None
    sent: int = 0  # body bytes written


@dataclass
class _State:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    state: _State  # set on the subclass made per server

    def log_message(self, *_args: Any) -> None:  # quiet test output
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        req = Request(self.path, self.headers.get("Range"))
        self.state.requests.append(req)
        served = self.state.files.get(self.path)
        if served is None:
            self._empty(404)
            return
        if served.status:
            self._empty(served.status)
            return
        if served.redirect:
            self.send_response(302)
            self.send_header("Location", served.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, status, start = served.body, 200, 0
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", req.range or "")
        if m and not served.ignore_range:
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(body) - 1
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = min(end, len(body) - 1)
            body, status = body[start:end + 1], 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        if status == 206:
            self.send_header("Content-Range",
                             f"bytes {start}-{start + len(body) - 1}/{len(served.body)}")
        self.end_headers()
        self._write(req, served, body)

    def _write(self, req: Request, served: Served, body: bytes) -> None:
        try:
            if served.stall_after is not None:
                self.wfile.write(body[: served.stall_after])
                self.wfile.flush()
                req.sent = served.stall_after
                self.state.stalled.set()
                self.state.release.wait(10)  # bounded: the test releases or gives up
                body = body[served.stall_after:]
            self.wfile.write(body)
            req.sent += len(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client aborted (a cancel): what the test wants to see

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class LoopbackServer:
    def __init__(self, lifetime: float = 120.0) -> None:
        self.state = _State()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.05}, daemon=True)
        self._watchdog = threading.Timer(lifetime, self.stop)
        self._watchdog.daemon = True
        self._stopped = False

    @property
    def files(self) -> dict[str, Served]:
        return self.state.files

    @property
    def requests(self) -> list[Request]:
        return self.state.requests

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.state.release.set()
        self._watchdog.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()
