"""The OMBRIA file listing: which patch ids are present, with their S1, S2 and mask files.

A leaf (no other project import), so the dataset reader and the spatial splits can both use it.
"""

from __future__ import annotations

import re
from pathlib import Path

_ID = re.compile(r"(\d+)")


def _ids(folder: Path, prefix: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if folder.is_dir():
        for p in folder.iterdir():
            if p.suffix.lower() == ".png" and p.name.startswith(prefix):
                m = _ID.search(p.stem[len(prefix):])
                if m:
                    out[m.group(1)] = p
    return out


def list_ombria(root: Path, folder: str) -> list[tuple[str, Path, Path, Path]]:
    """Sorted ``(id, s1, s2, mask)`` for the patches present in all three sub-folders."""
    base = root / folder
    s1, s2, mask = _ids(base / "S1", "S1_after_"), _ids(base / "S2", "S2_after_"), _ids(
        base / "MASK", "mask_")
    common = sorted(set(s1) & set(s2) & set(mask))
    if not common:
        raise FileNotFoundError(f"no OMBRIA patches (S1/S2/MASK with matching ids) in {base}")
    return [(i, s1[i], s2[i], mask[i]) for i in common]
