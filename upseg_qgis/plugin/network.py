"""HTTP through QGIS's own network stack: the transport `core.download` and catalogues use.

`QgsBlockingNetworkRequest` goes through `QgsNetworkAccessManager`, so QGIS's proxy, SSL
(custom CAs, accepted certificates) and timeout settings apply exactly as for any other QGIS
download, from the desktop, in a Processing background task, or under qgis_process. A chunk is
held in memory only while it is written (core.download asks for a few MiB at a time).
"""

from __future__ import annotations

from qgis.core import QgsBlockingNetworkRequest, QgsFeedback
from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtNetwork import QNetworkRequest

from ..core.models.download import DownloadCancelledError, Response
from ..version import plugin_version

_ATTR = QNetworkRequest.Attribute


class QgisTransport:
    """`core.download.Transport` over QgsBlockingNetworkRequest; `feedback` cancels a request
    in flight."""

    def __init__(self, feedback: QgsFeedback | None = None) -> None:
        self.feedback = feedback

    def _cancelled(self) -> bool:
        return self.feedback is not None and self.feedback.isCanceled()

    def get(self, url: str, start: int, end: int | None) -> Response:
        if self._cancelled():
            raise DownloadCancelledError("cancelled")
        request = QNetworkRequest(QUrl(url))
        request.setRawHeader(b"User-Agent", f"UPSeg-QGIS/{plugin_version()}".encode())
        if start or end is not None:
            last = "" if end is None else str(end)
            request.setRawHeader(b"Range", f"bytes={start}-{last}".encode())
        # Qt follows redirects itself and keeps the Range header (QGIS's own redirect handling
        # builds a new request without it); GitHub release assets redirect to a CDN. The policy
        # attribute exists in Qt 5.9+ and Qt6 (FollowRedirectsAttribute is gone in Qt6); Qt
        # reads it as an int, and PyQt6's enums are not ints.
        policy = QNetworkRequest.RedirectPolicy.NoLessSafeRedirectPolicy
        request.setAttribute(_ATTR.RedirectPolicyAttribute, int(getattr(policy, "value", policy)))
        blocking = QgsBlockingNetworkRequest()
        code = blocking.get(request, True, self.feedback)  # True: never from QGIS's cache
        if self._cancelled():
            raise DownloadCancelledError("cancelled")
        reply = blocking.reply()
        status = reply.attribute(_ATTR.HttpStatusCodeAttribute)
        headers = {bytes(k).decode("latin-1").lower(): bytes(reply.rawHeader(k)).decode("latin-1")
                   for k in reply.rawHeaderList()}
        error = "" if code == QgsBlockingNetworkRequest.ErrorCode.NoError \
            else (blocking.errorMessage() or "network error")
        return Response(int(status or 0), bytes(reply.content()), headers, error)
