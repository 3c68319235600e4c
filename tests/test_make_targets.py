"""Every `make` target the documentation names exists and has a recipe.

`make model` once printed "Nothing to be done for 'model'" while the README and the model card
still told users to run it (its rule was lost in an unrelated rewrite). `make -n` prints what a
target would run without running it, so this stays fast.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "upseg_qgis" / "models" / "MODEL_CARD.md"]
# `make x` in inline code, or a shell line in a code block that starts with `make x`.
_INLINE = re.compile(r"`make ([a-z][a-z0-9-]*)")
_SHELL = re.compile(r"^\s*(?:\$ )?make ([a-z][a-z0-9-]*)", re.MULTILINE)


def documented_targets() -> dict[str, list[str]]:
    """target -> the documents that name it."""
    found: dict[str, list[str]] = {}
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in {*_INLINE.findall(text), *_SHELL.findall(text)}:
            found.setdefault(target, []).append(doc.relative_to(ROOT).as_posix())
    return found


def test_the_documents_name_the_main_targets() -> None:
    # Guards the scan itself: if the regexes stopped matching, the test below would pass empty.
    assert {"model", "test", "demo", "bench"} <= set(documented_targets())


@pytest.mark.parametrize("target", sorted(documented_targets()))
def test_documented_make_target_has_a_recipe(target: str) -> None:
    where = ", ".join(documented_targets()[target])
    run = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"`make {target}` (named in {where}) fails: {out}"
    assert "Nothing to be done" not in out and "No rule to make target" not in out, (
        f"`make {target}` is named in {where} but has no recipe: {out}")
    assert run.stdout.strip(), f"`make -n {target}` prints nothing (named in {where})"
