"""Static Qt6 / QGIS 4 readiness check for the plugin's Python code (`make qt6-check`).

It fails on every construct that QGIS's own PyQt5-to-PyQt6 migration script would rewrite or
warn about (PyQt5 imports, `exec_`, `QVariant` types and values, unscoped enums, `qApp`,
`QRegExp`, compiled resources, ...) and on every Qt name the code uses that does not exist in
PyQt6. Two steps, because PyQt6 and QGIS's PyQt5 cannot share one interpreter:

    python scripts/qt6_check.py dump-pyqt6 NAMES.json       # in a venv with PyQt6 from PyPI
    python scripts/qt6_check.py check --pyqt6 NAMES.json PATH...  # in QGIS's Python

QGIS classes are checked against the QGIS that runs the check: `QgsWkbTypes.NoGeometry` is
flagged because `NoGeometry` is a member of the nested enum `QgsWkbTypes.Type`.
"""

from __future__ import annotations

import argparse
import ast
import enum
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtXml", "QtSvg", "QtSql",
              "QtPrintSupport", "QtTest")
DEPTH = 3  # Class.Enum.Member
REMOVED_NAMES = {
    "qApp": "use QApplication.instance()",
    "QRegExp": "removed in Qt6: use QRegularExpression",
    "QDesktopWidget": "removed in Qt6: use QScreen (QGuiApplication.screens())",
    "resources_rc": "compiled resources are gone in Qt6: load icons by file path",
}
RENAMED_ENUMS = {("Qt", "MidButton"), ("Qt", "TextColorRole"), ("Qt", "BackgroundColorRole"),
                 ("QPainter", "HighQualityAntialiasing")}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


# --------------------------------------------------------------------------- PyQt6 side


def _names(obj: object, prefix: str, depth: int, out: set[str]) -> None:
    for name in dir(obj):
        if name.startswith("__"):
            continue
        path = f"{prefix}.{name}"
        out.add(path)
        if depth > 1:
            try:
                child = getattr(obj, name)
            except Exception:
                continue
            if isinstance(child, type):
                _names(child, path, depth - 1, out)


def dump_pyqt6(out_path: Path) -> int:
    names: set[str] = set()
    for module in QT_MODULES:
        try:
            mod = importlib.import_module(f"PyQt6.{module}")
        except ImportError:
            continue
        _names(mod, module, DEPTH + 1, names)
    out_path.write_text(json.dumps(sorted(names)), encoding="utf-8")
    print(f"qt6-check: {len(names)} PyQt6 names written to {out_path}")
    return 0


# --------------------------------------------------------------------------- source side


def _chain(node: ast.Attribute) -> list[str] | None:
    """`A.B.C` -> ['A', 'B', 'C'] (None when it does not start at a plain name)."""
    parts: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name):
        return None
    return [cur.id, *reversed(parts)]


def _qt_imports(tree: ast.AST) -> dict[str, str]:
    """Local name -> PyQt6 path ('QMessageBox' -> 'QtWidgets.QMessageBox', 'QtCore' -> 'QtCore')."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):  # import qgis.PyQt.QtNetwork as net
            for alias in node.names:
                parts = alias.name.split(".")
                if alias.asname and parts[:2] == ["qgis", "PyQt"] and len(parts) == 3:
                    names[alias.asname] = parts[2]
            continue
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        for alias in node.names:
            local = alias.asname or alias.name
            if node.module.startswith("qgis.PyQt."):
                names[local] = f"{node.module.split('.')[2]}.{alias.name}"
            elif node.module == "qgis.PyQt" and alias.name in QT_MODULES:
                names[local] = alias.name
    return names


def _target_key(node: ast.expr) -> tuple[str, ...] | None:
    """`_ATTR` -> ('_ATTR',), `self.attr` -> ('self', 'attr'); None for anything else."""
    if isinstance(node, ast.Name):
        return (node.id,)
    chain = _chain(node) if isinstance(node, ast.Attribute) else None
    return tuple(chain) if chain else None


def _expand(chain: list[str], aliases: dict[tuple[str, ...], list[str]]) -> list[str]:
    """Replace the longest aliased prefix of `chain`, again until none is left (bounded)."""
    for _ in range(8):
        for n in range(len(chain), 0, -1):
            key = tuple(chain[:n])
            if key in aliases:
                chain = aliases[key] + chain[n:]
                break
        else:
            return chain
    return chain


def _qt_aliases(tree: ast.AST, qt: dict[str, str]) -> dict[tuple[str, ...], list[str]]:
    """Names bound to an attribute chain on a Qt name (`_ATTR = QNetworkRequest.Attribute`), so
    that `_ATTR.FollowRedirectsAttribute` is checked as `QNetworkRequest.Attribute....`. A name
    also bound to anything else is left out: its uses cannot be told apart statically."""
    values: dict[tuple[str, ...], list[list[str] | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        rhs = _target_key(value)
        for target in targets:
            key = _target_key(target)
            if key is not None:
                values.setdefault(key, []).append(list(rhs) if rhs else None)
    aliases = {k: v[0] for k, v in values.items()
               if v[0] is not None and all(x == v[0] for x in v)}
    return {k: v for k, v in aliases.items() if _expand(v, aliases)[0] in qt}


def _qgis_imports(tree: ast.AST) -> dict[str, object]:
    """Local name -> the class in the QGIS running this check (qgis.core / qgis.gui)."""
    found: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("qgis.core", "qgis.gui"):
            mod = importlib.import_module(node.module)
            for alias in node.names:
                obj = getattr(mod, alias.name, None)
                if isinstance(obj, type):
                    found[alias.asname or alias.name] = obj
    return found


def _is_enum_member(value: object) -> bool:
    kind = type(value)
    return isinstance(value, enum.Enum) or type(kind).__name__ == "enumtype"


def _enum_owner(cls: type, member: str) -> str | None:
    """Name of the nested enum of `cls` that holds `member`, if any."""
    for name in dir(cls):
        inner = getattr(cls, name, None)
        if isinstance(inner, type) and inner is not cls and \
                (issubclass(inner, enum.Enum) or type(inner).__name__ == "enumtype") and \
                hasattr(inner, member):
            return name
    return None


class Checker:
    def __init__(self, pyqt6_names: set[str]) -> None:
        self.pyqt6 = pyqt6_names
        self._aliases: dict[tuple[str, ...], list[str]] = {}

    def check_file(self, path: Path) -> list[Finding]:
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src, filename=str(path))
        qt, qgis = _qt_imports(tree), _qgis_imports(tree)
        self._aliases = _qt_aliases(tree, qt)
        out: list[Finding] = []
        for node in ast.walk(tree):
            out += [Finding(str(path), node.lineno, m) for m in self._node(node, qt, qgis)]
        return out

    def _node(self, node: ast.AST, qt: dict[str, str], qgis: dict[str, object]) -> Iterator[str]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from self._imports(node)
        elif isinstance(node, ast.FunctionDef) and node.name == "exec_":
            yield "def exec_(): name it exec (Qt6 has no exec_)"
        elif isinstance(node, ast.Name) and node.id in REMOVED_NAMES:
            yield f"{node.id}: {REMOVED_NAMES[node.id]}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "QVariant":
            yield "QVariant(...): use qgis.core.NULL or a plain Python value"
        elif isinstance(node, ast.Attribute):
            yield from self._attribute(node, qt, qgis)

    def _imports(self, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        for mod in modules:
            if mod and mod.split(".")[0] in ("PyQt4", "PyQt5", "PyQt6", "sip"):
                yield f"import {mod}: import Qt through qgis.PyQt"
            if mod == "qgis.PyQt.Qt":
                yield "qgis.PyQt.Qt: import Qt from qgis.PyQt.QtCore"
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in REMOVED_NAMES:
                    yield f"import {alias.name}: {REMOVED_NAMES[alias.name]}"

    def _attribute(self, node: ast.Attribute, qt: dict[str, str],
                   qgis: dict[str, object]) -> Iterator[str]:
        if node.attr == "exec_":
            yield ".exec_(): use .exec()"
        chain = _chain(node)
        if chain is None:
            return
        if chain[:2] == ["qgis", "PyQt"] and len(chain) > 3:  # import qgis.PyQt.QtCore
            chain = chain[2:]
            qt = {**qt, chain[0]: chain[0]}
        chain = _expand(chain, self._aliases)
        if len(chain) < 2:
            return
        head = chain[0]
        if head == "QVariant":
            yield f"{'.'.join(chain)}: QVariant types are gone in Qt6 (qt_compat.field)"
        elif (head, chain[1]) in RENAMED_ENUMS:
            yield f"{head}.{chain[1]}: renamed in Qt6"
        elif head in qt:
            yield from self._qt_chain(qt[head], chain)
        elif head in qgis:
            yield from self._qgis_pair(qgis[head], chain)

    def _qt_chain(self, root: str, chain: list[str]) -> Iterator[str]:
        path = ".".join([root, *chain[1:DEPTH + (0 if "." in root else 1)]])
        if path in self.pyqt6:
            return
        parent, _, member = path.rpartition(".")
        scoped = sorted(n for n in self.pyqt6 if n.startswith(parent + ".")
                        and n.endswith("." + member) and n.count(".") == path.count(".") + 1)
        hint = f": use {scoped[0].split('.', 1)[1]}" if scoped else " does not exist in PyQt6"
        yield f"{'.'.join(chain)}{hint}"

    def _qgis_pair(self, cls: object, chain: list[str]) -> Iterator[str]:
        value = getattr(cls, chain[1], None)
        if value is None or not _is_enum_member(value) or not isinstance(cls, type):
            return
        owner = _enum_owner(cls, chain[1])
        if owner:
            yield (f"{chain[0]}.{chain[1]}: unscoped enum, use {chain[0]}.{owner}.{chain[1]} "
                   "or the Qgis.* name (upseg_qgis/plugin/qt_compat.py)")


def python_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return files


def check(pyqt6_path: Path, paths: list[str]) -> int:
    checker = Checker(set(json.loads(pyqt6_path.read_text(encoding="utf-8"))))
    files = python_files(paths)
    findings = [f for path in files for f in checker.check_file(path)]
    for finding in findings:
        print(finding)
    print(f"qt6-check: {len(files)} files, {len(findings)} findings")
    return 1 if findings else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    dump = sub.add_parser("dump-pyqt6")
    dump.add_argument("out", type=Path)
    chk = sub.add_parser("check")
    chk.add_argument("--pyqt6", type=Path, required=True)
    chk.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    return dump_pyqt6(args.out) if args.cmd == "dump-pyqt6" else check(args.pyqt6, args.paths)


if __name__ == "__main__":
    sys.exit(main())
