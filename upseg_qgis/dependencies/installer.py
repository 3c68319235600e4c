"""Install ONNX Runtime for the Python inside QGIS, into the plugin-private folder.

`pip install --target <private folder>` with the pinned requirement; QGIS's own site-packages
are never written to, and QGIS's numpy is never replaced:

1. ``pip install --no-deps --target DIR onnxruntime-gpu==X`` (so pip does not drag in a second
   numpy, which `--target` would otherwise install next to QGIS's own);
2. ``pip install --target DIR -c constraints <its other dependencies QGIS lacks>`` (flatbuffers,
   protobuf, ...), with a constraint file that pins QGIS's own numpy version (1.x or 2.x), so
   numpy is never installed, upgraded or downgraded.

Which package: `pick_build()` chooses onnxruntime-gpu or onnxruntime for the running Python and
platform, and the report says what it picked and why.

`plan_install()` builds the commands without running anything (testable without network);
`run_install()` runs them (or only reports them with `dry_run=True`), then checks that
`import onnxruntime` works, and returns a report whose `message` tells the user exactly what
happened. No QGIS import here: the GUI (`plugin/gui.py`) and the tests drive it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .check import runtime_problems
from .constants import MIN_PYTHON, ORT_VERSION, add_private_site_dir, private_site_dir

# Run-time dependencies of onnxruntime(-gpu) 1.31.1 (its wheel's Requires-Dist without extras);
# tests check this list against the installed wheel's metadata. numpy is QGIS's business.
ORT_DEPENDENCIES: tuple[str, ...] = ("flatbuffers", "numpy>=1.21.6", "packaging",
                                     "protobuf>=4.25.8")
PIP_TIMEOUT_S = 1800  # onnxruntime-gpu is ~340 MB: slow links need time


@dataclass
class InstallPlan:
    python: str | None  # the interpreter QGIS embeds (None: not found)
    target: Path
    requirement: str
    missing_dependencies: list[str]
    constraints: list[str]
    constraints_path: Path
    commands: list[list[str]]
    problems: list[str] = field(default_factory=list)  # reasons the install cannot run
    choice: str = ""  # which ONNX Runtime build was picked, and why

    def command_lines(self) -> list[str]:
        return [shlex.join(c) for c in self.commands]


@dataclass
class StepResult:
    command: list[str]
    returncode: int
    output: str  # pip's stdout + stderr (tail)


@dataclass
class InstallReport:
    ok: bool
    dry_run: bool
    plan: InstallPlan
    steps: list[StepResult] = field(default_factory=list)
    version: str | None = None
    providers: list[str] = field(default_factory=list)
    importable_now: bool = False  # importable in this (QGIS) process without a restart
    message: str = ""

    @property
    def details(self) -> str:
        """Commands run and pip's output, for a 'Show details' box."""
        parts = []
        for s in self.steps:
            parts.append(f"$ {shlex.join(s.command)}\n(exit code {s.returncode})\n{s.output}")
        return "\n\n".join(parts) or "\n".join(self.plan.command_lines())


# ---------------------------------------------------------------------------------------------
# Which Python, which packages
# ---------------------------------------------------------------------------------------------


def python_candidates() -> list[Path]:
    """Where QGIS's Python interpreter may be. Inside QGIS `sys.executable` is unreliable: the
    QGIS binary, or whatever `python3` comes first on PATH (seen: a pyenv shim), so the
    interpreters of QGIS's own Python prefix come first."""
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    cands: list[Path] = []
    for prefix in dict.fromkeys([Path(sys.exec_prefix), Path(sys.base_exec_prefix)]):
        if os.name == "nt":  # OSGeo4W / standalone installer: <prefix>\python.exe
            cands += [prefix / "python.exe", prefix / "python3.exe"]
        else:  # Linux packages, macOS QGIS.app (Contents/Frameworks/...), conda
            cands += [prefix / "bin" / f"python{ver}", prefix / "bin" / "python3"]
    exe = Path(sys.executable) if sys.executable else None
    if exe is not None and re.match(r"python(\d(\.\d+)?)?(\.exe)?$", exe.name, re.I):
        cands.append(exe)
    return list(dict.fromkeys(cands))


_PROBE = "import sys; print('%d.%d|%s' % (sys.version_info[0], sys.version_info[1], " \
         "sys.base_prefix))"


def _same_python(path: Path) -> bool:
    """True if `path` runs QGIS's own Python: same version and same installation (base prefix),
    not merely another Python of the same version."""
    try:
        out = subprocess.run([str(path), "-c", _PROBE], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    version, _, base = out.stdout.strip().partition("|")
    major, minor = sys.version_info[:2]
    same_base = os.path.normcase(os.path.realpath(base)) == os.path.normcase(
        os.path.realpath(sys.base_prefix))
    return out.returncode == 0 and version == f"{major}.{minor}" and same_base


def find_python() -> str | None:
    for cand in python_candidates():
        if cand.is_file() and os.access(cand, os.X_OK) and _same_python(cand):
            return str(cand)
    return None


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _satisfied(requirement: str) -> bool:
    """Is `requirement` met by what this Python (QGIS's, plus the private folder) has?"""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    if not match:
        return False
    name, spec = match.group(1), match.group(2).strip()
    version = _installed_version(name)
    if version is None:
        return False
    if not spec:
        return True
    try:
        from packaging.specifiers import SpecifierSet

        return SpecifierSet(spec).contains(version, prereleases=True)
    except Exception:  # no `packaging` in this QGIS, or an odd version: presence is enough
        return True


def missing_dependencies(dependencies: Sequence[str] = ORT_DEPENDENCIES) -> list[str]:
    """ONNX Runtime's dependencies QGIS's Python lacks (numpy excepted: QGIS provides it)."""
    return [d for d in dependencies
            if not re.match(r"^numpy\b", d) and not _satisfied(d)]


def numpy_constraints() -> list[str]:
    """Pin QGIS's own numpy (1.x or 2.x alike), so pip can neither upgrade nor downgrade it."""
    version = _installed_version("numpy")
    return [f"numpy=={version}"] if version else []


@dataclass(frozen=True)
class OrtBuild:
    requirement: str
    reason: str  # what the user is told about the choice


_GPU_PLATFORMS = {("linux", "x86_64"), ("linux", "amd64"), ("win32", "amd64"),
                  ("win32", "x86_64")}
_CPU_PLATFORMS = {("darwin", "arm64"), ("linux", "aarch64"), ("linux", "arm64"),
                  ("win32", "arm64")}


def pick_build(platform: str | None = None, machine: str | None = None,
               python: tuple[int, int] | None = None) -> OrtBuild:
    """The ONNX Runtime package for this Python and platform (ONNX Runtime 1.31 publishes wheels
    for CPython 3.11-3.14: the GPU build for x86-64 Linux and Windows, the CPU build for
    Apple-silicon macOS and 64-bit ARM Linux/Windows)."""
    platform = platform or sys.platform
    machine = (machine or _machine()).lower()
    major, minor = python or sys.version_info[:2]
    key = ("linux" if platform.startswith("linux") else platform, machine)
    where = f"Python {major}.{minor} on {platform}/{machine}"
    if (major, minor) < MIN_PYTHON:
        return OrtBuild("", f"ONNX Runtime {ORT_VERSION} has no build for {where}.")
    if key in _GPU_PLATFORMS:
        return OrtBuild(f"onnxruntime-gpu=={ORT_VERSION}",
                        f"onnxruntime-gpu for {where}: runs on an NVIDIA GPU when CUDA 13 and "
                        "cuDNN 9 are installed, otherwise on the CPU.")
    if key in _CPU_PLATFORMS:
        return OrtBuild(f"onnxruntime=={ORT_VERSION}",
                        f"onnxruntime (CPU build; no GPU build is published) for {where}.")
    return OrtBuild("", f"ONNX Runtime {ORT_VERSION} publishes no build for {where}; install "
                        "an onnxruntime that pip offers for it by hand (see the user guide).")


def _machine() -> str:
    import platform

    return platform.machine() or "unknown"


def default_requirement() -> str:
    """The pinned ONNX Runtime for this platform (never both packages in one Python)."""
    return pick_build().requirement


def plan_install(target: Path | None = None, requirement: str | None = None,
                 python: str | None = None, extra_pip_args: Sequence[str] = (),
                 dependencies: Sequence[str] = ORT_DEPENDENCIES,
                 check_pip: bool = True) -> InstallPlan:
    """The pip commands that would install `requirement` into the private folder; nothing runs
    except (with `check_pip`) `python -m pip --version`."""
    target = Path(target) if target else private_site_dir()
    build = pick_build()
    choice = build.reason if not requirement else f"{requirement}, as asked."
    requirement = requirement or build.requirement
    python = python or find_python()
    problems: list[str] = []
    if python is None:
        major, minor = sys.version_info[:2]
        problems.append(f"The Python interpreter of this QGIS (Python {major}.{minor}) was not "
                        "found, so pip cannot run.")
    elif check_pip:
        try:
            out = subprocess.run([python, "-m", "pip", "--version"], capture_output=True,
                                 text=True, timeout=60)
            if out.returncode != 0:
                problems.append(
                    f"pip is not available for {python}: {out.stderr.strip()[-300:]} "
                    "(Debian/Ubuntu: `sudo apt install python3-pip`; OSGeo4W: install the "
                    "python3-pip package with the OSGeo4W setup).")
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"Cannot run {python}: {exc}")
    if not requirement:
        problems.append(build.reason)
    missing = missing_dependencies(dependencies)
    constraints = numpy_constraints()
    constraints_path = target.parent / "upseg_pip_constraints.txt"
    py = python or "python3"
    base = [py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "--upgrade", "--target", str(target), *extra_pip_args]
    commands = [[*base, "--no-deps", requirement]]
    if missing:
        commands.append([*base, "--constraint", str(constraints_path), *missing])
    return InstallPlan(python, target, requirement, missing, constraints, constraints_path,
                       commands, problems, choice)


def manual_instructions(plan: InstallPlan | None = None) -> str:
    """The same install by hand, for the user guide and for failures."""
    plan = plan or plan_install(check_pip=False)
    lines = [
        "Run in a terminal (Windows: the OSGeo4W Shell), then restart QGIS:",
        *[f"  {line}" for line in plan.command_lines()],
    ]
    if plan.missing_dependencies:
        lines.append(f"  with {plan.constraints_path} containing: "
                     + "; ".join(plan.constraints))
    lines.append("For a CPU-only install use onnxruntime instead of onnxruntime-gpu (never both).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Running it
# ---------------------------------------------------------------------------------------------

Runner = Callable[..., subprocess.CompletedProcess]

_VERIFY = (
    "import json, sys; sys.path.append(sys.argv[1]); import onnxruntime as o; "
    "print(json.dumps({'version': o.__version__, 'file': o.__file__, "
    "'providers': o.get_available_providers()}))"
)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_install(plan: InstallPlan, dry_run: bool = False, runner: Runner = subprocess.run,
                timeout: float = PIP_TIMEOUT_S) -> InstallReport:
    """Run the plan's pip commands, then check the import (in a fresh interpreter and in this
    process). Never raises for pip failures: the report says what happened."""
    report = InstallReport(ok=False, dry_run=dry_run, plan=plan)
    if plan.problems:
        report.message = ("ONNX Runtime was not installed: " + " ".join(plan.problems)
                          + "\n\n" + manual_instructions(plan))
        return report
    if dry_run:
        report.ok = True
        report.message = (f"Dry run, nothing installed. Picked: {plan.choice}\n"
                          "These commands would run:\n" + "\n".join(plan.command_lines()))
        return report
    plan.target.mkdir(parents=True, exist_ok=True)
    if plan.missing_dependencies:
        plan.constraints_path.write_text("\n".join(plan.constraints) + "\n", encoding="utf-8")
    for cmd in plan.commands:
        try:
            proc = runner(cmd, capture_output=True, text=True, timeout=timeout)
            step = StepResult(cmd, proc.returncode, _tail((proc.stdout or "") + "\n"
                                                          + (proc.stderr or "")))
        except (OSError, subprocess.SubprocessError) as exc:
            step = StepResult(cmd, -1, str(exc))
        report.steps.append(step)
        if step.returncode != 0:
            report.message = (
                f"pip failed (exit code {step.returncode}) while running:\n  "
                f"{shlex.join(cmd)}\n\n{_tail(step.output, 8)}\n\n"
                f"Nothing in QGIS's own Python was changed; files pip may have left are in "
                f"{plan.target}.\n\n" + manual_instructions(plan))
            return report
    _verify(report)
    return report


def _verify(report: InstallReport) -> None:
    plan = report.plan
    stray_numpy = (plan.target / "numpy").exists()
    try:
        proc = subprocess.run([plan.python or sys.executable, "-c", _VERIFY, str(plan.target)],
                              capture_output=True, text=True, timeout=120)
        info = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        proc, info = None, None
    if info is None:
        err = _tail(proc.stderr, 6) if proc is not None else "the check could not run"
        report.message = (f"pip installed {plan.requirement} into {plan.target}, but "
                          f"`import onnxruntime` fails:\n{err}\n\n" + manual_instructions(plan))
        return
    report.version, report.providers = info["version"], list(info["providers"])
    # This QGIS session: the folder goes on sys.path (after QGIS's own packages).
    add_private_site_dir()
    if plan.target.is_dir() and str(plan.target) not in sys.path:
        sys.path.append(str(plan.target))
    importlib.invalidate_caches()
    loaded = sys.modules.get("onnxruntime")
    with contextlib.suppress(Exception):
        report.importable_now = importlib.import_module("onnxruntime") is not None
    report.ok = True
    installed = [plan.requirement, *plan.missing_dependencies]
    runtime_problems(refresh=True)  # the plugin's own check sees the new package
    lines = [
        f"Installed {', '.join(installed)} into {plan.target} (pip of {plan.python}).",
        f"Picked: {plan.choice}",
        f"ONNX Runtime {report.version} imports; execution providers it offers: "
        f"{', '.join(report.providers)} (CUDA also needs CUDA 13 and cuDNN 9 on this machine; "
        "the segment log says which provider really ran).",
        "QGIS's own Python packages were not changed"
        + (f" (numpy stays {_installed_version('numpy')})." if _installed_version("numpy")
           else "."),
    ]
    if stray_numpy:
        lines.append(f"Note: pip also put a numpy into {plan.target}; QGIS's numpy still wins "
                     "because that folder comes last on the path.")
    if report.importable_now and loaded is None:
        lines.append("UPSeg can use it right away.")
    else:
        lines.append("Restart QGIS before running UPSeg.")
    report.message = "\n".join(lines)


def install_instructions() -> str:
    """Exact commands for the Python that QGIS runs (worked out by the installer module, which
    also finds QGIS's own interpreter inside the desktop)."""
    return (
        "Install ONNX Runtime for the Python that QGIS runs, leaving QGIS's numpy as it is "
        "(or use Plugins > UPSeg's install offer in the QGIS desktop):\n"
        + manual_instructions()
        + "\nIn a checkout of the UPSeg repository, `make setup` does it all."
    )
