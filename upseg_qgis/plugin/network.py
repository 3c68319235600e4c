"""HTTP through QGIS's own network stack: the transport `core.download` and catalogues use.

Requests go through `QgsNetworkAccessManager`, so QGIS's proxy, SSL (custom CAs, accepted
certificates) and timeout settings apply exactly as for any other QGIS download, from the
desktop, in a Processing background task, or under qgis_process.

The body is streamed: each `readyRead` hands what has arrived to the caller's sink (the part
file of a download), so nothing holds a whole answer. `QgsBlockingNetworkRequest` is not used:
it keeps the whole reply in memory, and a server that ignores Range answers a chunk request
with the whole file (models may be 1 GB). A local event loop waits for the reply, as
QgsBlockingNetworkRequest's own does.
"""

from __future__ import annotations

from qgis.core import QgsFeedback, QgsNetworkAccessManager
from qgis.PyQt.QtCore import QEventLoop, QTimer, QUrl
from qgis.PyQt.QtNetwork import QNetworkReply, QNetworkRequest

from ..core.models.download import (
    READ_SIZE,
    BodySink,
    BufferSink,
    DownloadCancelledError,
    Response,
)
from ..version import plugin_version

_ATTR = QNetworkRequest.Attribute
_MIB = 1 << 20
_CANCEL_POLL_MS = 100


def _int(enum_value: object) -> int:
    """Qt reads these request attributes as ints, and PyQt6's enums are not ints."""
    return int(getattr(enum_value, "value", enum_value))


def _request(url: str, start: int, end: int | None) -> QNetworkRequest:
    request = QNetworkRequest(QUrl(url))
    request.setRawHeader(b"User-Agent", f"UPSeg-QGIS/{plugin_version()}".encode())
    if start or end is not None:
        last = "" if end is None else str(end)
        request.setRawHeader(b"Range", f"bytes={start}-{last}".encode())
    # Qt follows redirects itself and keeps the Range header; GitHub release assets redirect to
    # a CDN. The policy attribute exists in Qt 5.9+ and Qt6 (FollowRedirectsAttribute is gone
    # in Qt6).
    policy = QNetworkRequest.RedirectPolicy.NoLessSafeRedirectPolicy
    request.setAttribute(_ATTR.RedirectPolicyAttribute, _int(policy))
    # Never from QGIS's cache, and never into it (a model file would fill it).
    request.setAttribute(_ATTR.CacheLoadControlAttribute,
                         _int(QNetworkRequest.CacheLoadControl.AlwaysNetwork))
    request.setAttribute(_ATTR.CacheSaveControlAttribute, False)
    return request


class _Pump:
    """Runs one reply to its end in a local event loop, handing its body to `sink` as it
    arrives; an exception from the sink (or a cancel) aborts the reply and is kept."""

    def __init__(self, reply: QNetworkReply, sink: BodySink, cancelled: object) -> None:
        self.reply, self.sink, self.cancelled = reply, sink, cancelled
        self.status = 0
        self.headers: dict[str, str] = {}
        self.failure: BaseException | None = None
        self._begun = False

    def run(self) -> None:
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(_CANCEL_POLL_MS)
        timer.timeout.connect(self._poll_cancel)
        self.reply.readyRead.connect(self._drain)
        self.reply.finished.connect(loop.quit)
        # Qt keeps at most this much unread; the socket waits while the disk catches up.
        self.reply.setReadBufferSize(4 * _MIB)
        timer.start()
        if not self.reply.isFinished():
            loop.exec()
        timer.stop()
        self._drain()  # what arrived with `finished`
        if not self._begun and self.failure is None:
            self._begin()  # no body at all (an error, an empty file): status and headers

    def _poll_cancel(self) -> None:
        if self.cancelled() and self.failure is None:  # type: ignore[operator]
            self._fail(DownloadCancelledError("cancelled"))

    def _fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.reply.abort()

    def _begin(self) -> None:
        reply = self.reply
        self.status = int(reply.attribute(_ATTR.HttpStatusCodeAttribute) or 0)
        self.headers = {bytes(k).decode("latin-1").lower():
                        bytes(reply.rawHeader(k)).decode("latin-1")
                        for k in reply.rawHeaderList()}
        self._begun = True
        self.sink.begin(self.status, self.headers)

    def _drain(self) -> None:
        if self.failure is not None:
            return
        try:
            status = int(self.reply.attribute(_ATTR.HttpStatusCodeAttribute) or 0)
            if 300 <= status < 400:  # a redirect Qt is about to follow: its body is not ours
                self.reply.readAll()
                return
            while self.reply.bytesAvailable() > 0:
                if not self._begun:
                    self._begin()
                self.sink.write(bytes(self.reply.read(READ_SIZE)))
        except Exception as exc:  # noqa: BLE001 - a Qt slot must not raise; get() re-raises it
            self._fail(exc)


class QgisTransport:
    """`core.download.Transport` over QgsNetworkAccessManager, streaming; `feedback` cancels a
    request in flight."""

    def __init__(self, feedback: QgsFeedback | None = None) -> None:
        self.feedback = feedback

    def _cancelled(self) -> bool:
        return self.feedback is not None and self.feedback.isCanceled()

    def get(self, url: str, start: int, end: int | None,
            sink: BodySink | None = None) -> Response:
        if self._cancelled():
            raise DownloadCancelledError("cancelled")
        out = sink or BufferSink()
        reply = QgsNetworkAccessManager.instance().get(_request(url, start, end))
        pump = _Pump(reply, out, self._cancelled)
        try:
            pump.run()
            if pump.failure is not None:
                raise pump.failure
            if self._cancelled():
                raise DownloadCancelledError("cancelled")
            error = "" if reply.error() == QNetworkReply.NetworkError.NoError \
                else (reply.errorString() or "network error")
        finally:
            reply.deleteLater()
        body = out.body() if isinstance(out, BufferSink) else b""
        return Response(pump.status, body, pump.headers, error)
