"""Which tests need torch, decided from the source alone, so the answer is the same whether torch
is installed or not (a module that imports torch cannot even be imported without it).

A test needs torch when its module imports, at top level, a module whose own top-level imports
reach torch (followed through this repository's packages), or when the test itself, a module-level
helper it calls, or a fixture it uses imports such a module or calls `pytest.importorskip("torch")`.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH_MODULES = frozenset({"torch", "torchvision"})
LOCAL_PACKAGES = frozenset({"model_export", "upseg_qgis", "tests", "bench"})


@functools.cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_file(name: str) -> Path | None:
    """The file of a repository module ('a.b' -> a/b.py or a/b/__init__.py), or None."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = list(path.resolve().relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _from_base(node: ast.ImportFrom, importer: Path) -> str:
    """The absolute module a `from ... import` reads from."""
    base = node.module or ""
    if node.level:
        package = module_name(importer).split(".")
        if importer.name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    return base


def imported_names(node: ast.AST, importer: Path) -> list[str]:
    """Absolute module names an Import/ImportFrom node loads (parent packages included)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = _from_base(node, importer)
        targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
    else:
        return []
    names = []
    for target in targets:
        parts = target.split(".")
        names += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return names


def imports_reach_torch(nodes: list[ast.AST], importer: Path) -> bool:
    for node in nodes:
        for name in imported_names(node, importer):
            if name.split(".")[0] in TORCH_MODULES:
                return True
            if name.split(".")[0] in LOCAL_PACKAGES and module_needs_torch(name):
                return True
    return False


@functools.cache
def module_needs_torch(name: str) -> bool:
    """Does importing this repository module import torch? (Top-level statements only: imports
    inside functions run later, if at all.)"""
    path = module_file(name)
    if path is None:
        return False
    return imports_reach_torch(list(parse(path).body), path)


def module_path_needs_torch(path: Path) -> bool:
    return imports_reach_torch(list(parse(path).body), path)


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    found: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    found[f"{node.name}.{sub.name}"] = sub
    return found


def _call_targets(path: Path, func: ast.FunctionDef) -> dict[str, tuple[Path, str]]:
    """Where the names a function may call are defined: its own module's functions, and functions
    imported from this repository's modules (at top level or inside the function)."""
    targets = {name: (path, name) for name in _functions(parse(path))}
    for node in [*parse(path).body, *ast.walk(func)]:
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _from_base(node, path)
        source = module_file(base) if base.split(".")[0] in LOCAL_PACKAGES else None
        for alias in node.names if source else ():
            if alias.name in _functions(parse(source)):
                targets[alias.asname or alias.name] = (source, alias.name)
    return targets


def function_needs_torch(path: Path, name: str, seen: frozenset = frozenset()) -> bool:
    """A function (or Class.method), with the repository functions it calls, lazily imported
    modules included (a helper that imports torch inside its body counts)."""
    func = _functions(parse(path)).get(name)
    if func is None:
        return False
    seen = seen | {(path, name)}
    nodes = list(ast.walk(func))
    if imports_reach_torch([n for n in nodes if isinstance(n, ast.Import | ast.ImportFrom)], path):
        return True
    for node in nodes:
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "importorskip"
                and node.args and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in TORCH_MODULES):
            return True
    targets = _call_targets(path, func)
    called = {targets[n.id] for n in nodes if isinstance(n, ast.Name) and n.id in targets} - seen
    return any(function_needs_torch(p, f, seen | called) for p, f in called)


def fixture_needs_torch(name: str, module: Path) -> bool:
    """A fixture defined in the test module itself or in tests/conftest.py."""
    return any(function_needs_torch(path, name) for path in (module, ROOT / "tests" / "conftest.py")
               if path.is_file())


def listed_tests(path: Path) -> list[tuple[str, int]]:
    """(pytest name, number of parametrized cases) for each test in a module, from its source: the
    cases are counted where parametrize gets a literal list, else taken as one."""
    tests = []
    for name, func in _functions(parse(path)).items():
        short = name.split(".")[-1]
        if not short.startswith("test") or ("." in name and not name.startswith("Test")):
            continue
        cases = 1
        for deco in func.decorator_list:
            if (isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize"
                    and len(deco.args) > 1 and isinstance(deco.args[1], ast.List | ast.Tuple)):
                cases *= max(1, len(deco.args[1].elts))
        tests.append((name.replace(".", "::"), cases))
    return tests
