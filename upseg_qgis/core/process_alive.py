"""Whether a process of this host still runs: how a lock file left by a crashed run is told from
one held by a live run (download locks, region job locks)."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """True unless `pid` certainly does not exist (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, not ours (PermissionError), or cannot tell: keep the lock
    return True
