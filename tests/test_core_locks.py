"""Locks: racing takers, stale and foreign locks, and whether a lock's process still runs."""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from upseg_qgis.core import locks
from upseg_qgis.core.locks import process_alive, windows_process_alive
from upseg_qgis.core.region.manifest import WorkFolder


def test_this_process_a_live_child_and_an_ended_one() -> None:
    import os

    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)  # reaped: no such process
    assert not process_alive(0) and not process_alive(-5)


class _Kernel32:
    """Stands for kernel32 (OpenProcess / GetExitCodeProcess / CloseHandle), for the logic only:
    this machine has no Windows; the calls' names and codes are those of the Win32 API."""

    def __init__(self, handle: int, exit_code: int = 259, ok: bool = True) -> None:
        self.handle, self.exit_code, self.ok, self.closed = handle, exit_code, ok, []

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:
        assert access == 0x1000 and inherit is False
        return self.handle

    def GetExitCodeProcess(self, handle: int, code: Any) -> bool:
        ctypes.cast(code, ctypes.POINTER(ctypes.c_ulong)).contents.value = self.exit_code
        return self.ok

    def CloseHandle(self, handle: int) -> None:
        self.closed.append(handle)


def test_windows_logic_running_ended_missing_and_not_ours() -> None:
    running, ended = _Kernel32(7, 259), _Kernel32(8, 0)
    assert windows_process_alive(42, running, lambda: 0) and running.closed == [7]
    assert not windows_process_alive(42, ended, lambda: 0) and ended.closed == [8]
    assert not windows_process_alive(42, _Kernel32(0), lambda: 87)  # invalid parameter: gone
    assert windows_process_alive(42, _Kernel32(0), lambda: 5)  # access denied: it exists
    assert windows_process_alive(42, _Kernel32(9, 0, ok=False), lambda: 0)  # unsure: keep


def _race(take: Any, lock: Any, barrier: Any, results: Any, i: int) -> None:
    barrier.wait()
    try:
        take(lock)
        results.put((i, "won"))
    except Exception as exc:  # noqa: BLE001 - the message goes back to the test
        results.put((i, f"{type(exc).__name__}: {exc}"))
    barrier.wait()  # hold the lock until every racer has tried


def _race_many(take: Any, lock: Any, n: int = 8) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(take, lock, barrier, results, i)) for i in range(n)]
    for p in procs:
        p.start()
    out = [results.get(timeout=60)[1] for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return out


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_eight_racers_one_winner_even_over_a_stale_lock(tmp_path: Path) -> None:
    fresh = _race_many(locks.acquire, tmp_path / "fresh.lock")
    assert fresh.count("won") == 1, fresh
    stale = tmp_path / "stale.lock"
    stale.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid()}))
    over = _race_many(locks.acquire, stale)
    assert over.count("won") == 1, over
    assert all("LockHeldError" in r for r in over if r != "won")


def test_region_jobs_started_together_one_runs(tmp_path: Path) -> None:
    out = _race_many(_take_region, str(tmp_path / "out.tif"))
    assert out.count("won") == 1, out


def _take_region(output: str) -> None:
    real = Path.mkdir

    def slow_mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        time.sleep(0.3)  # a slow shared disk: every racer is between its check and its write

    Path.mkdir = slow_mkdir  # type: ignore[method-assign]  # this racer process only
    WorkFolder(output).take_lock()


def test_stale_lock_taken_over_foreign_and_live_ones_refused(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid()}))
    locks.acquire(lock)
    assert locks.read_owner(lock) == locks.this_owner()
    locks.release(lock)
    assert not lock.exists()
    lock.write_text(json.dumps({"host": "gpu-box-7", "pid": _dead_pid()}))
    with pytest.raises(locks.LockHeldError, match="gpu-box-7, another computer.*delete") as err:
        locks.acquire(lock)
    assert err.value.other_host and lock.exists()
    lock.write_text(f"{socket.gethostname()} {os.getppid()}")  # the old region format, live
    with pytest.raises(locks.LockHeldError, match=f"process {os.getppid()}"):
        locks.acquire(lock)


def test_a_reused_pid_is_not_the_owner(tmp_path: Path) -> None:
    if locks.process_start_time(os.getpid()) is None:
        pytest.skip("no process start times here (not Linux)")
    lock = tmp_path / "x.lock"
    me = locks.this_owner()
    lock.write_text(json.dumps({"host": me.host, "pid": os.getppid(), "started": "1"}))
    locks.acquire(lock)  # the parent runs, but it is not the process that took the lock
    assert locks.read_owner(lock) == me
