"""Talking to the caller while a run goes on: progress, messages, cancellation, stage times.

No QGIS here: the Processing algorithm passes its feedback's methods as plain callables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]
MessageFn = Callable[[str], None]
STAGES = ("load", "read", "warp", "normalise", "inference", "blend", "write")


class CancelledError(RuntimeError):
    """The caller cancelled; the partial output has been removed."""


@dataclass
class Reporter:
    """The caller's callbacks (all optional) and the warnings of this run."""

    progress: ProgressFn | None = None
    is_cancelled: CancelFn | None = None
    info: MessageFn | None = None
    warn: MessageFn | None = None
    warnings: list[str] = field(default_factory=list)

    def say(self, message: str) -> None:
        if self.info is not None:
            self.info(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        if self.warn is not None:
            self.warn(message)

    def step(self, fraction: float, message: str) -> None:
        if self.progress is not None:
            self.progress(fraction, message)

    def cancelled(self) -> bool:
        return bool(self.is_cancelled and self.is_cancelled())

    def check(self, where: str) -> None:
        """Raise CancelledError when the caller has cancelled; `where` says how far it got."""
        if self.cancelled():
            raise CancelledError(f"Cancelled {where}; the partial output was removed.")


class Clock:
    """Seconds per stage. `lap` charges the time since the last lap; `add` charges a measured
    span (used by helper threads, whose time overlaps the main thread's)."""

    def __init__(self) -> None:
        self.totals = {s: 0.0 for s in STAGES}
        self.start = self._t = time.perf_counter()
        self._lock = threading.Lock()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.add(stage, now - self._t)
        self._t = now

    def restart(self) -> None:
        self._t = time.perf_counter()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.totals[stage] = self.totals.get(stage, 0.0) + seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def rounded(self) -> dict[str, float]:
        return {k: round(self.totals[k], 4) for k in STAGES}
