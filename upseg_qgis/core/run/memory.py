"""Freed memory handed back to the system every few tile rows (glibc only).

glibc keeps large freed blocks in its heaps (one per thread) for reuse; with the reader, the
writer and the model runs each allocating chunk-sized arrays, a run's resident memory grew
tens of MB above what it used (4x bench scene, `segment()` alone: 450-470 MB peak without,
about 410 MB trimming every row, 420 MB every 4th). `malloc_trim(0)` returns the free pages and
changes no setting; the price is that the next allocations fault those pages in again (every
row: +0.4 million page faults on the 4x scene), hence every TRIM_EVERY_ROWS rows. Elsewhere
(Windows, macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

TRIM_EVERY_ROWS = 4


@functools.cache
def _trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> None:
    trim = _trim()
    if trim is not None:
        trim(0)
