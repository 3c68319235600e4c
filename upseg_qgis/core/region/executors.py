"""Windows run in this process, or on Dask distributed; failures retried, then named.

Both executors take a `run(job, window, threads)` function (`runner.run_window`, or a stand-in in
tests) and hand every finished window to `on_done` in the submitting process, which alone
records it. A window that fails is retried up to `retries` more times, then reported by name
with its last error; the other windows go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..run.defaults import available_cpus
from ..run.reporting import CancelledError
from .job import RegionJob
from .manifest import WindowRecord
from .plan import RegionWindow

RunFn = Callable[..., WindowRecord]
DoneFn = Callable[[WindowRecord], None]
CancelFn = Callable[[], bool]
DEFAULT_RETRIES = 2
CONNECT_TIMEOUT = 30  # s to reach an existing scheduler
POLL = 0.2  # s between looks at cancellation while windows run on the cluster


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be used; the message says what to do."""


@dataclass(frozen=True)
class WindowFailure:
    name: str
    error: str
    attempts: int

    def describe(self) -> str:
        return f"{self.name} ({self.attempts} attempt(s)): {self.error}"


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 500 else text[:500] + "..."


def _task_error(fut: Any) -> str:
    try:
        return _error_text(fut.exception())
    except BaseException as exc:  # noqa: BLE001 - a cancelled or lost task has no exception
        return f"the task was {fut.status} ({_error_text(exc)})"


def run_in_process(
    run: RunFn, job: RegionJob, windows: Sequence[RegionWindow], on_done: DoneFn,
    is_cancelled: CancelFn, retries: int = DEFAULT_RETRIES, threads: int | None = None,
) -> list[WindowFailure]:
    """One window after another in this process (each uses the cores through ONNX Runtime)."""
    failures = []
    for w in windows:
        for attempt in range(1, retries + 2):
            if is_cancelled():
                raise CancelledError("Cancelled; the finished windows are kept for a rerun.")
            try:
                rec = run(job, w, threads, is_cancelled)
            except CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried, then reported by name
                if attempt > retries:
                    failures.append(WindowFailure(w.name, _error_text(exc), attempt))
                continue
            rec.attempts = attempt
            on_done(rec)
            break
    return failures


@dataclass
class DaskConnection:
    client: Any
    cluster: Any  # the LocalCluster we started, else None
    threads: int | None  # CPU threads per window

    def describe(self) -> str:
        workers = self.client.scheduler_info().get("workers", {})
        where = "a local cluster" if self.cluster is not None else "the cluster"
        return f"{len(workers)} Dask worker(s) on {where} at {self.client.scheduler.address}"

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def connect(scheduler: str, workers: int | None = None, threads: int | None = None
            ) -> DaskConnection:
    """`local` (or `local:N`): a LocalCluster of worker processes on loopback TCP; else the
    address of an existing scheduler (tcp://host:port)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise SchedulerError(
            f"A Dask scheduler was asked for, but Dask is not installed ({exc}). Install it "
            "with `pip install -r requirements/cluster.txt` (dask[distributed]), or leave the "
            "scheduler empty to run in this process."
        ) from None
    if scheduler == "local" or scheduler.startswith("local:"):
        n = workers or (int(scheduler.split(":", 1)[1]) if ":" in scheduler else 0)
        n = max(1, n or available_cpus())
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
            protocol="tcp://", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
        )
        per_worker = threads or max(1, available_cpus() // n)
        return DaskConnection(Client(cluster), cluster, per_worker)
    if "://" not in scheduler:
        raise SchedulerError(
            f"Scheduler '{scheduler}' is neither 'local', 'local:N' nor an address like "
            "tcp://host:8786."
        )
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise SchedulerError(
            f"Cannot reach the Dask scheduler at {scheduler} ({exc}). Check the address and "
            "that the scheduler runs (`dask scheduler`), or use --scheduler local."
        ) from None
    return DaskConnection(client, None, threads)


def run_on_dask(
    conn: DaskConnection, run: RunFn, job: RegionJob, windows: Sequence[RegionWindow],
    on_done: DoneFn, is_cancelled: CancelFn, retries: int = DEFAULT_RETRIES,
) -> list[WindowFailure]:
    """Every window as one Dask task; results are recorded here as they arrive."""
    from distributed import wait

    client = conn.client
    attempts: dict[str, int] = {}
    pending: dict[Any, RegionWindow] = {}
    failures: list[WindowFailure] = []
    stamp = f"{time.time_ns():x}"

    def submit(w: RegionWindow) -> None:
        attempts[w.name] = attempts.get(w.name, 0) + 1
        key = f"upseg-{w.name}-{stamp}-{attempts[w.name]}"
        pending[client.submit(run, job, w, conn.threads, key=key, pure=False)] = w

    for w in windows:
        submit(w)
    try:
        while pending:
            if is_cancelled():
                raise CancelledError("Cancelled; the finished windows are kept for a rerun.")
            try:
                done = wait(list(pending), timeout=POLL, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                continue
            for fut in done:
                w = pending.pop(fut)
                if fut.status == "finished":
                    rec = fut.result()
                    rec.attempts = attempts[w.name]
                    on_done(rec)
                elif attempts[w.name] <= retries:
                    submit(w)
                else:
                    failures.append(WindowFailure(w.name, _task_error(fut), attempts[w.name]))
    finally:
        if pending:
            client.cancel(list(pending))
    return failures
