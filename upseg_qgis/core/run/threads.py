"""The two helper threads of a pipelined run, both stoppable within POLL_SECONDS.

`Prefetcher` runs the chunk source ahead in a reader thread; `Sink` runs blending and writing
behind in a writer thread. GDAL, numpy and ONNX Runtime release the GIL, so both overlap the
model. Nobody waits on a queue without a timeout: every wait looks at the caller's cancel flag,
so a slow read (a network drive, a large JPEG 2000) cannot hold a cancelled run. A read that is
under way is not interrupted: the reader thread finishes it, sees the stop flag and ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, TypeVar

from .defaults import POLL_SECONDS
from .reporting import CancelledError, Reporter

T = TypeVar("T")
_DONE = object()


@dataclass
class _Failure:
    exc: BaseException


class Prefetcher(Generic[T]):
    """Iterates `items` in a background thread, `depth` items ahead; its errors are raised in
    the consumer. Use as a context manager."""

    def __init__(self, items: Iterable[T], depth: int, report: Reporter) -> None:
        self._items = items
        self._report = report
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="upseg-reader", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(exc))

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        while True:
            try:
                item = self._queue.get(timeout=POLL_SECONDS)
                break
            except queue.Empty:
                self._report.check("while waiting for input")
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("the UPSeg reader thread stopped") from None
        if item is _DONE:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Failure):
            raise item.exc
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop reading ahead. Does not wait for a read under way (it may be slow): the thread
        ends by itself once that read returns."""
        self._stop.set()
        with suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join(timeout=POLL_SECONDS)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Sink:
    """Runs submitted calls in order in one background thread; at most `depth` calls wait.
    The first error is re-raised in the submitting thread at its next `submit` or at `finish`.
    Use as a context manager: leaving the block early drops what has not run yet."""

    def __init__(self, depth: int, report: Reporter) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._report = report
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="upseg-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is not None:
                continue  # after a failure, drop the rest (the submitter stops soon)
            fn, args = item  # type: ignore[misc]
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the submitter
                self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _put(self, item: object) -> None:
        while True:
            self._check()
            try:
                self._queue.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                self._report.check("while writing")
                if not self._thread.is_alive():
                    raise RuntimeError("the UPSeg writer thread stopped") from None

    def submit(self, fn: Callable[..., None], *args: object) -> None:
        self._put((fn, args))

    def finish(self) -> None:
        """Wait until everything submitted has run; re-raise its error."""
        self._put(_DONE)
        while self._thread.is_alive():
            self._thread.join(timeout=POLL_SECONDS)
            if self._thread.is_alive():
                self._report.check("while writing")
        self._check()

    def close(self) -> None:
        """Stop, dropping what has not run yet; waits only for the call under way (one region
        of blending and writing), so the output can be removed safely afterwards."""
        if not self._thread.is_alive():
            return
        if self._error is None:
            self._error = CancelledError("stopped")
        with suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        with suppress(queue.Full):
            self._queue.put_nowait(_DONE)
        self._thread.join()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
