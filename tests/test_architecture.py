"""The architecture stays as the folder tree shows it: no import circles (function-level imports
included), an inference core free of QGIS and torch in every subpackage, and packages that say what
they are for."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_graph import cycles, graph, project_modules

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("upseg_qgis", "model_export")


def test_no_import_circle_anywhere() -> None:
    assert cycles(graph(ROOT, PACKAGES)) == []


def test_a_circle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    assert cycles(graph(tmp_path, ("pkg",))) == [["pkg.a", "pkg.sub.b"]]
    (pkg / "sub" / "b.py").write_text("def f():\n    return 1\n")
    assert cycles(graph(tmp_path, ("pkg",))) == []


def _core_modules() -> list[str]:
    return sorted(m for m in project_modules(ROOT, ("upseg_qgis",))
                  if m == "upseg_qgis.core" or m.startswith("upseg_qgis.core."))


def test_core_source_never_imports_qgis_or_torch() -> None:
    offenders = []
    for name, path in project_modules(ROOT, ("upseg_qgis",)).items():
        if not name.startswith("upseg_qgis.core"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            offenders += [f"{name}: {n}" for n in names
                          if n.split(".")[0] in {"qgis", "torch", "PyQt5", "PyQt6"}]
    assert offenders == []


def test_importing_every_core_module_loads_neither_qgis_nor_torch() -> None:
    modules = _core_modules()
    assert {"upseg_qgis.core.run.pipeline", "upseg_qgis.core.region.run",
            "upseg_qgis.core.models.resolve", "upseg_qgis.core.accuracy.evaluation"} <= set(modules)
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('qgis', 'torch', 'onnx')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("package", ["upseg_qgis", "model_export"])
def test_every_package_says_what_it_is_for(package: str) -> None:
    silent = [str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("__init__.py")
              if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert silent == []


def test_the_core_names_its_public_api() -> None:
    import upseg_qgis.core as core

    for name in ("segment", "segment_region", "resolve_model", "CORE_ERRORS", "RegionError",
                 "ModelNotFoundError"):
        assert name in core.__all__
        assert getattr(core, name) is not None
    with pytest.raises(AttributeError):
        _ = core.no_such_name
