"""Whether a process of this host still runs: how a lock file left by a crashed run is told from
one held by a live run (output commits, download locks, region job locks).

Never `os.kill(pid, 0)` on Windows: there signal 0 is CTRL_C_EVENT, sent to a console process
group, and it fails for any other process, so every lock would look held forever.
"""

from __future__ import annotations

import os
from typing import Any

_STILL_ACTIVE = 259  # GetExitCodeProcess's code for a process that has not ended
_ERROR_ACCESS_DENIED = 5
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000


def process_alive(pid: int) -> bool:
    """True unless `pid` certainly does not run; when unsure, True (the lock is kept)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if os.name == "nt":
        import ctypes

        return windows_process_alive(pid, ctypes.WinDLL("kernel32", use_last_error=True),
                                     ctypes.get_last_error)
    try:
        os.kill(pid, 0)  # POSIX signal 0: no signal, only the check
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists under another user (PermissionError), or cannot tell
    return True


def windows_process_alive(pid: int, kernel32: Any, last_error: Any) -> bool:
    """The Windows check through kernel32 (passed in, so the logic is testable anywhere)."""
    import ctypes

    handle = kernel32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return last_error() == _ERROR_ACCESS_DENIED  # exists, not ours; else no such process
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == _STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
