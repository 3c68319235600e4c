"""Temporary ("partial") files of a run, committed into place together or not at all.

A run writes every output (class raster, its .aux.xml, its .qml, the confidence raster and its
.aux.xml) under partial names next to the final ones: `<stem>.<host>-<pid>-<random>.partial.*`.
`commit_together` then moves the previous outputs aside, moves the new ones in, and on any
failure puts everything back, so a reader of the folder sees the old result or the new one,
never a mixture. A run killed outright (power loss, `kill -9`) leaves its partial files behind;
the next run to the same output removes those whose process is gone (`remove_stale_partials`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import socket
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from ..process_alive import process_alive
from .gdal_errors import RasterError

PARTIAL = "partial"
# Partial files in the old naming (no process id) are removed once they are this old.
UNOWNED_PARTIAL_MAX_AGE_S = 24 * 3600
_OWNED = re.compile(r"^(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]+$")
_UNOWNED = re.compile(r"^[0-9a-f]{8}$")


def _host_tag() -> str:
    # Short and filesystem-safe; tells this machine's runs from others' on a shared folder.
    return hashlib.blake2s(socket.gethostname().encode(), digest_size=3).hexdigest()


def run_tag() -> str:
    """One tag per run, shared by all its partial files."""
    return f"{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def partial_path(final: Path, tag: str, suffix: str | None = None) -> Path:
    """`out.tif` -> `out.<tag>.partial.tif` (a visible name: a leftover is obviously junk)."""
    return final.with_name(f"{final.stem}.{tag}.{PARTIAL}{suffix or final.suffix}")


def remove_files(paths: Sequence[Path]) -> None:
    for p in paths:
        with suppress(FileNotFoundError):
            p.unlink()


def commit_together(pairs: Sequence[tuple[Path | None, Path]], tag: str) -> None:
    """Move each finished temporary file onto its final path, all or none.

    A pair (None, final) means the run has no such file: an old `final` (say a stale .aux.xml
    describing earlier data) is removed with the rest. On failure every final path holds what it
    held before and the temporary files are where they were.
    """
    backups: list[tuple[Path, Path]] = []
    placed: list[tuple[Path, Path]] = []
    try:
        for _, final in pairs:
            if final.exists() or final.is_symlink():
                backup = partial_path(final, tag, f"-previous{final.suffix}")
                os.replace(final, backup)
                backups.append((final, backup))
        for tmp, final in pairs:
            if tmp is not None:
                os.replace(tmp, final)
                placed.append((tmp, final))
    except OSError as exc:
        for tmp, final in reversed(placed):
            with suppress(OSError):
                os.replace(final, tmp)
        for final, backup in reversed(backups):
            with suppress(OSError):
                os.replace(backup, final)
        raise RasterError(
            f"Saving the results to {pairs[0][1].parent} failed ({exc}); the folder keeps what "
            "it held before. Check free space and permissions, and close programs that hold "
            "the output files open."
        ) from None
    remove_files([b for _, b in backups])


def _stale(path: Path, tag: str, now: float) -> bool:
    m = _OWNED.match(tag)
    if m:
        return m.group("host") == _host_tag() and not process_alive(int(m.group("pid")))
    if _UNOWNED.match(tag):
        with suppress(OSError):
            return now - path.stat().st_mtime > UNOWNED_PARTIAL_MAX_AGE_S
    return False


def remove_stale_partials(final: Path) -> list[Path]:
    """Remove partial files of `final` left by runs that are no longer alive; returns them.

    POSIX: a partial file belongs to a dead run when it was written on this machine by a
    process that no longer exists. Windows: a live run's files are open and cannot be deleted,
    so deleting is the test (os.kill cannot be used there to probe a process).
    """
    pattern = glob.escape(str(final.with_name(final.stem))) + f".*.{PARTIAL}*"
    removed = []
    now = time.time()
    for name in glob.glob(pattern):
        path = Path(name)
        tag = path.name[len(final.stem) + 1 :].split(f".{PARTIAL}", 1)[0]
        if os.name == "nt" or _stale(path, tag, now):
            try:
                path.unlink()
            except OSError:
                continue  # in use by a live run (Windows), or already gone
            removed.append(path)
    return removed


def partial_files(final: Path) -> list[Path]:
    """Every partial file of `final` on disk (tests use this)."""
    pattern = glob.escape(str(final.with_name(final.stem))) + f".*.{PARTIAL}*"
    return [Path(p) for p in glob.glob(pattern)]
