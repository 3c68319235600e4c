"""Stage "infer": tiles in batches through the model, in order, several runs at once on the CPU.

Tiles of consecutive chunks fill batches of `batch` tiles. With `runs` > 1 each batch is an
ONNX Runtime run in its own thread (whole batches in parallel beat one batch split across
intra-op threads on the CPU); results still come out in submission order. Waiting for a run
looks at the cancel flag every POLL_SECONDS. ONNX Runtime's failures become InferenceError,
which says what happened and what to change.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from ..run.chunks import Chunk
from ..run.defaults import CPU, POLL_SECONDS
from ..run.reporting import Clock, Reporter
from .session import LoadedModel, ModelError
from .tta import with_tta

Items = list[tuple[Chunk, int]]  # (chunk, tile index in it) per tile of a batch
_MEMORY_WORDS = ("out of memory", "failed to allocate", "bad_alloc", "alloc_failed",
                 "memoryallocation")


class InferenceError(RuntimeError):
    """The model failed on a batch; the message says why and what to change."""


def describe_run_error(exc: BaseException, provider: str) -> str:
    """ONNX Runtime's exception as a message for the user: what failed and what to change."""
    text = str(exc).strip() or type(exc).__name__
    gpu = provider != CPU
    where = "the GPU" if gpu else "the CPU"
    if any(w in text.lower() for w in _MEMORY_WORDS):
        advice = (f"{where} ran out of memory. Lower BATCH_SIZE or TILE_SIZE"
                  + (", or set DEVICE to cpu." if gpu else ", or set an EXTENT."))
    else:
        advice = ("Check that the model was exported by `python -m model_export export`"
                  + ("; if it runs on the CPU (DEVICE cpu), the GPU setup is at fault." if gpu
                     else "."))
    return f"ONNX Runtime failed running the model on {provider} ({text[:400]}). {advice}"


class ModelRunner:
    """Batches of tiles through `lm`; see the module docstring. Use as a context manager."""

    def __init__(self, lm: LoadedModel, batch: int, runs: int, num_classes: int,
                 clock: Clock, report: Reporter, tta: str = "none") -> None:
        self.lm = lm
        self._run = with_tta(lm.run, tta)
        self.batch = batch
        self.runs = runs
        self.num_classes = num_classes
        self.clock = clock
        self.report = report
        self._pending: deque[tuple[Chunk, int]] = deque()
        self._in_flight: deque[tuple[Items, Future[np.ndarray]]] = deque()
        self._pool = (ThreadPoolExecutor(runs, thread_name_prefix="upseg-model")
                      if runs > 1 else None)

    def add(self, chunk: Chunk) -> Iterator[tuple[Items, np.ndarray]]:
        """Take a chunk's tiles; yield (tiles, logits) of every batch finished meanwhile."""
        self._pending.extend((chunk, i) for i in range(len(chunk.xs)))
        while len(self._pending) >= self.batch:
            yield from self._submit([self._pending.popleft() for _ in range(self.batch)])

    def flush(self) -> Iterator[tuple[Items, np.ndarray]]:
        """The last, partial batch, then every run still going."""
        if self._pending:
            yield from self._submit(list(self._pending))
            self._pending.clear()
        while self._in_flight:
            items, fut = self._in_flight.popleft()
            yield items, self._checked(items, self._wait(fut))

    def _submit(self, items: Items) -> Iterator[tuple[Items, np.ndarray]]:
        opt, sar = self._stack(items)
        if self._pool is None:
            yield items, self._checked(items, self.infer(opt, sar))
            return
        self._in_flight.append((items, self._pool.submit(self.infer, opt, sar)))
        while len(self._in_flight) >= self.runs:
            done, fut = self._in_flight.popleft()
            yield done, self._checked(done, self._wait(fut))

    def _stack(self, items: Items) -> tuple[np.ndarray, np.ndarray]:
        t = time.perf_counter()
        first, last = items[0], items[-1]
        if first[0] is last[0]:  # one chunk: a slice, no copy
            opt = first[0].optical[first[1] : last[1] + 1]
            sar = first[0].sar[first[1] : last[1] + 1]
        else:
            opt = np.stack([c.optical[i] for c, i in items])
            sar = np.stack([c.sar[i] for c, i in items])
        self.clock.add("normalise", time.perf_counter() - t)
        return opt, sar

    def infer(self, opt: np.ndarray, sar: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        try:
            logits = self._run(opt, sar)
        except (MemoryError, ModelError):
            raise
        except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind exception types
            raise InferenceError(describe_run_error(exc, self.lm.provider)) from exc
        self.clock.add("inference", time.perf_counter() - t)
        return logits

    def _wait(self, fut: Future[np.ndarray]) -> np.ndarray:
        while True:
            try:
                return fut.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                self.report.check("while the model ran")

    def _checked(self, items: Items, logits: np.ndarray) -> np.ndarray:
        th, tw = items[0][0].optical.shape[-2:]
        want = (len(items), self.num_classes, th, tw)
        if logits.shape != want:
            raise ModelError(f"The model returned logits of shape {logits.shape}, expected "
                             f"{want}. Re-export the model.")
        return logits

    def close(self) -> None:
        """Stop without waiting for runs still going (their results are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ModelRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
