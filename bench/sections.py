"""Marked sections of a generated page (`<!-- name:start -->` ... `<!-- name:end -->`): other
benchmark commands own them, so regenerating the page keeps them and each command replaces only
its own."""

from __future__ import annotations

import re
from pathlib import Path

_BLOCK = re.compile(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", re.S)


def replace_section(path: Path, name: str, text: str) -> None:
    """Put `text` between the markers of `name` in `path` (appended when absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    page = path.read_text() if path.is_file() else ""
    block = f"{start}\n{text}\n{end}"
    if start in page and end in page:
        page = page[:page.index(start)] + block + page[page.index(end) + len(end):]
    else:
        page = page.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(page)


def kept_sections(path: Path) -> list[str]:
    """The marked sections of the page now at `path`, to carry into its next version."""
    page = path.read_text() if path.is_file() else ""
    return [m.group(0) for m in _BLOCK.finditer(page)]
