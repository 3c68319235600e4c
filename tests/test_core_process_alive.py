"""Stale-lock checks: whether the process that wrote a lock still runs, on POSIX and Windows."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from typing import Any

from upseg_qgis.core.process_alive import process_alive, windows_process_alive


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
