"""Temporary ("partial") files of a run, committed into place together or not at all.

A run writes every output (class raster, its .aux.xml, its .qml, the confidence raster and its
.aux.xml) under partial names next to the final ones: `<stem>.<host>-<pid>-<random>.partial.*`.
`commit_together` then keeps the previous outputs under a second name (hard link), writes a
journal, and moves the new ones in with one atomic rename each; on any failure it puts
everything back. A run killed outright (power loss, `kill -9`) leaves its partial files and
perhaps a journal behind: the next run to the same output first completes (rolls forward, or
back) the commit the journal describes, then removes the files whose process is gone
(`remove_stale_partials`). Every final path holds a whole file at every moment.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from .. import locks
from ..locks import process_alive
from .gdal_errors import RasterError

PARTIAL = "partial"
JOURNAL_SUFFIX = ".journal"  # `<stem>.<tag>.partial.journal`
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


def commit_lock(final: Path) -> Path:
    """`out.tif.commit.lock`: one commit to an output at a time (`locks`)."""
    return final.with_name(final.name + ".commit.lock")


def commit_together(pairs: Sequence[tuple[Path | None, Path]], tag: str) -> None:
    """Move each finished temporary file onto its final path, all or none.

    A pair (None, final) means the run has no such file: an old `final` (say a stale .aux.xml
    describing earlier data) is removed with the rest. On failure every final path holds what it
    held before and the temporary files are where they were.

    Crash safety: the old files are first hard-linked to backups (the final paths keep them),
    then a journal is written atomically in every folder involved, then each new file replaces
    its final path with one atomic os.replace. Each final path thus always holds a whole file;
    a run killed midway leaves a journal that the next run's `remove_stale_partials` rolls
    forward (or, if a new file is gone, back from the backups) before removing anything.
    """
    lock = commit_lock(pairs[0][1])
    try:
        locks.acquire(lock)
    except locks.LockHeldError as held:
        raise RasterError(f"Another run is saving {pairs[0][1]} right now. {held}") from None
    try:
        _commit(pairs, tag)
    finally:
        locks.release(lock)


def _commit(pairs: Sequence[tuple[Path | None, Path]], tag: str) -> None:
    backups: list[Path | None] = []
    entries: list[_Entry] = []
    journals = _journal_paths([final for _, final in pairs], tag)
    placed: list[_Entry] = []
    try:
        for tmp, final in pairs:
            backups.append(_backup(final, tag))
            entries.append((tmp, final, backups[-1]))
        _write_journals(journals, entries, tag)
        for entry in entries:
            _place(entry)
            placed.append(entry)
    except OSError as exc:
        _roll_back(entries, placed)
        remove_files([*(b for b in backups if b is not None), *journals])
        raise RasterError(
            f"Saving the results to {pairs[0][1].parent} failed ({exc}); the folder keeps what "
            "it held before. Check free space and permissions, and close programs that hold "
            "the output files open."
        ) from None
    _finish(entries, journals)


_Entry = tuple[Path | None, Path, Path | None]  # (new file or None, final path, backup or None)


def _backup(final: Path, tag: str) -> Path | None:
    """A second name for the old file, which stays at its final path meanwhile."""
    if not (final.exists() or final.is_symlink()):
        return None
    backup = partial_path(final, tag, f"-previous{final.suffix}")
    try:
        os.link(final, backup, follow_symlinks=False)
    except (OSError, NotImplementedError):  # no hard links here (FAT, some network shares)
        shutil.copy2(final, backup, follow_symlinks=False)
    return backup


def _journal_paths(finals: Sequence[Path], tag: str) -> list[Path]:
    """One journal per folder; the first final's folder last: writing it is the commit point."""
    first = finals[0]
    others = {f.parent: f for f in finals if f.parent != first.parent}
    return [journal_path(f, tag) for f in [*others.values(), first]]


def journal_path(final: Path, tag: str) -> Path:
    return partial_path(final, tag, JOURNAL_SUFFIX)


def _write_journals(journals: Sequence[Path], entries: Sequence[_Entry], tag: str) -> None:
    body = json.dumps({"tag": tag, "journals": [str(j) for j in journals],
                       "entries": [[None if p is None else str(p) for p in e] for e in entries]})
    for journal in journals:
        tmp = journal.with_name(journal.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())  # on disk before any rename it describes
        os.replace(tmp, journal)  # atomic: a journal is whole or absent
        _fsync_dir(journal.parent)


def _fsync_dir(folder: Path) -> None:
    if os.name != "nt":  # best effort: makes the renames in `folder` durable
        with suppress(OSError):
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _place(entry: _Entry) -> None:
    tmp, final, _ = entry
    if tmp is not None:
        os.replace(tmp, final)
    else:
        with suppress(FileNotFoundError):
            final.unlink()


def _roll_back(entries: Sequence[_Entry], placed: Sequence[_Entry]) -> None:
    """In-process failure: new files back to their temporary names, old ones restored."""
    for tmp, final, _ in reversed(placed):
        if tmp is not None:
            with suppress(OSError):
                os.replace(final, tmp)
    _restore(entries)


def _restore(entries: Sequence[_Entry]) -> None:
    for tmp, final, backup in entries:
        if backup is None:
            if tmp is not None and not Path(tmp).exists():
                with suppress(OSError):  # the new file was placed where there was none
                    final.unlink()
            continue
        with suppress(OSError):
            os.replace(backup, final)  # a no-op where both are still the same file
            remove_files([backup])


def _finish(entries: Sequence[_Entry], journals: Sequence[Path]) -> None:
    # Backups first, the commit-point journal last: a crash here still finds a journal.
    remove_files([b for *_, b in entries if b is not None])
    remove_files(journals)


def _roll_forward_or_back(entries: Sequence[_Entry]) -> None:
    """Complete the commit of a dead run: forward when every new file is still there (or
    already placed); back from the backups when one has gone missing."""
    forward = all(t is None or t.exists() or _placed(f, b) for t, f, b in entries)
    if not forward:
        _restore(entries)
        return
    for entry in entries:
        if entry[0] is None or entry[0].exists():
            _place(entry)


def _placed(final: Path, backup: Path | None) -> bool:
    """The new file is at `final`: something is there and it is not the old file itself."""
    if not final.exists():
        return False
    with suppress(OSError):
        return not (backup is not None and os.path.samefile(backup, final))
    return True


def _load_journal(path: Path) -> tuple[list[_Entry], list[Path]] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [tuple(None if p is None else Path(p) for p in e) for e in data["entries"]]
        return entries, [Path(j) for j in data["journals"]]  # type: ignore[return-value]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # written atomically, so not one of ours: leave it


def recover_interrupted(folder: Path) -> list[Path]:
    """Finish the commits that dead runs began in `folder`; returns the journals handled."""
    handled = []
    for name in glob.glob(glob.escape(str(folder)) + f"/*{JOURNAL_SUFFIX}"):
        path = Path(name)
        tag = _tag_of(path.name)
        loaded = _load_journal(path)
        if tag is None or loaded is None or not _owner_gone(tag):
            continue
        entries, journals = loaded
        if journals[-1].exists():  # the commit point was reached: complete it
            _roll_forward_or_back(entries)
            remove_files([b for *_, b in entries if b is not None])
        remove_files(journals)  # secondary ones first, the commit point last
        handled.append(path)
    return handled


_TAG = re.compile(rf"\.([^.]+)\.{PARTIAL}")


def _tag_of(name: str) -> str | None:
    """The run tag in a partial file's name (`a.tif.aux.<tag>.partial.xml` included)."""
    m = _TAG.search(name)
    return m.group(1) if m else None


def _owner_gone(tag: str) -> bool:
    m = _OWNED.match(tag)
    return bool(m) and m.group("host") == _host_tag() and not process_alive(int(m.group("pid")))


def _stale(path: Path, tag: str | None, now: float) -> bool:
    if tag is None:
        return False
    if _OWNED.match(tag):
        return _owner_gone(tag)
    if _UNOWNED.match(tag):
        with suppress(OSError):
            return now - path.stat().st_mtime > UNOWNED_PARTIAL_MAX_AGE_S
    return False


def remove_stale_partials(final: Path) -> list[Path]:
    """Remove partial files of `final` left by runs that are no longer alive; returns them.

    First completes the commits that dead runs began in this folder (their journals), so a
    backup of the previous result is never deleted while it is the only copy. POSIX: a partial
    file belongs to a dead run when it was written on this machine by a process that no longer
    exists. Windows: a live run's files are open and cannot be deleted, so deleting is the
    test (os.kill cannot be used there to probe a process); journals are checked by owner.
    """
    recover_interrupted(final.parent)
    locks.clear_stale(commit_lock(final))
    pattern = glob.escape(str(final.with_name(final.stem))) + f".*.{PARTIAL}*"
    removed = []
    now = time.time()
    for name in glob.glob(pattern):
        path = Path(name)
        tag = _tag_of(path.name)
        journal = JOURNAL_SUFFIX in path.name
        if (os.name == "nt" and not journal) or _stale(path, tag, now):
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
