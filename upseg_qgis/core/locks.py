"""Lock files: one run at a time per download, region job and output commit.

A lock is created whole and exclusively: the owner record (host name, process id, process start
time) is written to a temporary file first, which is then hard-linked to the lock's name, so the
lock never exists without its owner. A lock is stale, and taken over, only when its host is this
one and its process is gone (or the pid now belongs to a process started at another time); a lock
of another host is never taken over: the error names the host and how to clear it.

Never `os.kill(pid, 0)` on Windows: there signal 0 is CTRL_C_EVENT, sent to a console process
group, and it fails for any other process, so every lock would look held forever.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import uuid
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
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


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: str | None = None  # process start time where the system tells it (Linux)

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


class LockHeldError(Exception):
    """The lock belongs to a live run, or to one on another computer."""

    def __init__(self, lock: Path, owner: Owner | None) -> None:
        self.lock, self.owner = lock, owner
        self.other_host = owner is not None and owner.host != socket.gethostname()
        super().__init__(self.advice())

    def advice(self) -> str:
        if self.owner is None:
            return f"Its lock {self.lock} cannot be read; delete it if no run is going on."
        if self.other_host:
            return (f"It is locked by {self.owner.describe()}, another computer, which cannot "
                    f"be checked from here: if no run is going on there, delete {self.lock}.")
        return (f"It is locked by {self.owner.describe()}. Wait for it to finish, or delete "
                f"{self.lock} if that process is gone.")


def process_start_time(pid: int) -> str | None:
    """Start time of `pid` in clock ticks since boot (Linux /proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces and ')'
    return fields[19] if len(fields) > 19 else None  # field 22, counted after pid and name


def this_owner() -> Owner:
    return Owner(socket.gethostname(), os.getpid(), process_start_time(os.getpid()))


def read_owner(lock: Path) -> Owner | None:
    """The owner of `lock`; None when unreadable. Older formats: `<pid>` and `<host> <pid>`."""
    text = lock.read_text(encoding="utf-8").strip()
    with suppress(ValueError, TypeError, KeyError):
        d = json.loads(text)
        if isinstance(d, dict):
            return Owner(str(d["host"]), int(d["pid"]), d.get("started"))
        if isinstance(d, int):
            return Owner(socket.gethostname(), d)  # the old download lock: this host's pid
    with suppress(ValueError):
        host, pid = text.split()
        return Owner(host, int(pid))
    return None


def owner_gone(owner: Owner) -> bool:
    """True only for a process of this host that no longer runs (or whose pid was reused)."""
    if owner.host != socket.gethostname():
        return False
    if not process_alive(owner.pid):
        return True
    now = process_start_time(owner.pid)
    return owner.started is not None and now is not None and now != owner.started


def acquire(lock: Path) -> None:
    """Take `lock` or raise LockHeldError; a stale lock (see `owner_gone`) is taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = this_owner()
    for _ in range(3):
        if _create(lock, me):
            return
        try:
            owner = read_owner(lock)
        except FileNotFoundError:
            continue  # released meanwhile: try again
        if owner == me:
            return  # ours already
        if owner is None or not owner_gone(owner):
            raise LockHeldError(lock, owner)
        _break(lock, owner)
    raise LockHeldError(lock, None)


def clear_stale(lock: Path) -> bool:
    """Remove `lock` if its owner is gone (see `owner_gone`); True when removed. Also removes
    the temporary files (`.tmp`, `.stale`) that killed takers of it left."""
    for name in glob.glob(glob.escape(str(lock)) + ".*.[ts][mt]*"):
        with suppress(OSError, ValueError):
            left = read_owner(Path(name))
            if left is not None and owner_gone(left):
                Path(name).unlink()
    try:
        owner = read_owner(lock)
    except OSError:
        return False
    if owner is None or not owner_gone(owner):
        return False
    _break(lock, owner)
    return not lock.exists()


def release(lock: Path) -> None:
    with suppress(OSError):
        if read_owner(lock) == this_owner():
            lock.unlink()


def _create(lock: Path, me: Owner) -> bool:
    """Create `lock` holding `me`, or False if it exists (link: the record comes with it)."""
    tmp = lock.with_name(f"{lock.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(asdict(me)), encoding="utf-8")
    try:
        os.link(tmp, lock)
        return True
    except FileExistsError:
        return False
    except (OSError, NotImplementedError):  # no hard links here: exclusive create, then write
        return _create_without_link(lock, me)
    finally:
        tmp.unlink(missing_ok=True)


def _create_without_link(lock: Path, me: Owner) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(asdict(me)))  # an empty lock reads as held, never as stale
    return True


def _break(lock: Path, stale: Owner) -> None:
    """Remove a stale lock unless another run replaced it meanwhile (moved aside, checked)."""
    aside = lock.with_name(f"{lock.name}.{uuid.uuid4().hex[:8]}.stale")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return
    try:
        if read_owner(aside) != stale:  # a live run's fresh lock: put it back
            with suppress(OSError):
                os.link(aside, lock)
    finally:
        aside.unlink(missing_ok=True)
