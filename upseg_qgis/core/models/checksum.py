"""Is this file the one the catalogue means? SHA-256 of model files, remembered per file.

Hashing a 300 MB model takes about a second; a small stamp beside the file (`<file>.sha256`,
holding the hash with the file's size and modification time) lets later runs skip it until the
file changes. A folder that cannot be written (a read-only share) is simply hashed every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

_BLOCK = 1 << 20


class ChecksumCancelledError(RuntimeError):
    """Hashing was cancelled by the user."""


def sha256_file(
    path: str | Path,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    path = Path(path)
    total = max(path.stat().st_size, 1)
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            done += len(block)
            if is_cancelled is not None and is_cancelled():
                raise ChecksumCancelledError(f"Checking {path.name} was cancelled.")
            if progress is not None and done % (64 * _BLOCK) < _BLOCK:
                progress(done / total)
    return digest.hexdigest()


def stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _signature(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def mark_verified(path: Path, sha256: str) -> None:
    """Remember that `path`, as it is now, has this hash (best effort)."""
    with contextlib.suppress(OSError):  # a read-only folder: hash again next time
        stamp_path(path).write_text(
            json.dumps({"sha256": sha256, **_signature(path)}), encoding="utf-8"
        )


def _stamped(path: Path) -> str | None:
    try:
        data = json.loads(stamp_path(path).read_text(encoding="utf-8"))
        if {k: data.get(k) for k in ("size", "mtime_ns")} == _signature(path):
            return str(data.get("sha256", ""))
    except (OSError, ValueError):
        pass
    return None


def file_sha256(
    path: Path,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    remember: bool = True,
) -> str:
    """The file's SHA-256, from its stamp when the file is unchanged since, else computed (and
    stamped). `remember=False` for folders that are not ours (the plugin's, a share)."""
    known = _stamped(path) if remember else None
    if known:
        return known
    digest = sha256_file(path, progress, is_cancelled)
    if remember:
        mark_verified(path, digest)
    return digest


