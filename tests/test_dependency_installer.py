"""The in-QGIS installer of ONNX Runtime, without network: the pip commands it builds, a dry
run, failures reported in words, and a real `pip install --target` from a local wheelhouse of
stand-in wheels into QGIS's own interpreter (Debian's /usr/bin/python3)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from upseg_qgis.dependencies import installer as di
from upseg_qgis.dependencies.constants import ORT_REQUIREMENT

SYSTEM_PYTHON = "/usr/bin/python3"  # the interpreter QGIS embeds on Debian


def make_wheel(folder: Path, dist: str, version: str, module: str, code: str,
               requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel (what pip needs to install it)."""
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": code,
        f"{info}/METADATA": "Metadata-Version: 2.1\n"
                            f"Name: {dist}\nVersion: {version}\n"
                            + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: upseg-test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    path = folder / f"{norm}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def test_dependency_list_matches_the_pinned_wheel() -> None:
    name, _, version = ORT_REQUIREMENT.partition("==")
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{name} not installed here")
    if installed != version:
        pytest.skip(f"{name} {installed} installed, {version} pinned")
    requires = [r for r in importlib.metadata.requires(name) or [] if "extra ==" not in r]
    assert sorted(requires) == sorted(di.ORT_DEPENDENCIES)


def test_plan_pins_the_requirement_keeps_numpy_and_never_targets_site_packages(
        tmp_path: Path) -> None:
    target = tmp_path / "upseg_site-packages"
    plan = di.plan_install(target, python=SYSTEM_PYTHON, check_pip=False,
                           dependencies=("numpy>=1.21.6", "packaging", "upseg-not-there>=1"))
    first, second = plan.commands
    assert first[:4] == [SYSTEM_PYTHON, "-m", "pip", "install"]
    assert first[-2:] == ["--no-deps", ORT_REQUIREMENT]  # no second numpy via dependencies
    assert first[first.index("--target") + 1] == str(target)
    # Only what QGIS lacks, never numpy; and a constraint that keeps QGIS's numpy.
    assert plan.missing_dependencies == ["upseg-not-there>=1"]
    assert second[-1] == "upseg-not-there>=1"
    assert second[second.index("--constraint") + 1] == str(plan.constraints_path)
    # QGIS's numpy pinned as it is (1.x or 2.x): never installed, upgraded or downgraded.
    assert plan.constraints == [f"numpy=={importlib.metadata.version('numpy')}"]
    for cmd in plan.commands:
        assert "--user" not in cmd and "--target" in cmd
        assert not any(re.match(r"^numpy\b", a) for a in cmd)
    assert "upseg_pip_constraints.txt" in di.manual_instructions(plan)


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    plan = di.plan_install(tmp_path / "t", python=SYSTEM_PYTHON, check_pip=False)
    report = di.run_install(plan, dry_run=True, runner=_fail_if_called)
    assert report.ok and report.dry_run and not report.steps
    assert "Dry run, nothing installed" in report.message
    assert ORT_REQUIREMENT in report.message
    assert not (tmp_path / "t").exists()


def _fail_if_called(*args: object, **kwargs: object) -> subprocess.CompletedProcess:
    raise AssertionError("nothing may run in a dry run")


def test_pip_failure_is_reported_with_the_manual_route(tmp_path: Path) -> None:
    plan = di.plan_install(tmp_path / "t", python=SYSTEM_PYTHON, check_pip=False)

    def offline(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution "
                                           "found for onnxruntime-gpu==1.31.1")

    report = di.run_install(plan, runner=offline)
    assert not report.ok and len(report.steps) == 1
    assert "pip failed (exit code 1)" in report.message
    assert "No matching distribution" in report.message
    assert "Nothing in QGIS's own Python was changed" in report.message
    assert "Run in a terminal" in report.message


def test_missing_python_or_pip_stops_before_running(tmp_path: Path) -> None:
    plan = di.plan_install(tmp_path / "t", python=str(tmp_path / "no-python"))
    assert plan.problems and "Cannot run" in plan.problems[0]
    report = di.run_install(plan, runner=_fail_if_called)
    assert not report.ok and "ONNX Runtime was not installed" in report.message


@pytest.mark.parametrize("exe", ["/usr/bin/qgis", "other-python"])
def test_finds_qgis_own_python_whatever_sys_executable_says(monkeypatch, tmp_path: Path,
                                                           exe: str) -> None:
    if exe == "other-python":  # e.g. a pyenv shim first on PATH: same version, other install
        fake = tmp_path / "python3"
        major, minor = sys.version_info[:2]
        fake.write_text(f"#!/bin/sh\necho '{major}.{minor}|/opt/elsewhere'\n")
        fake.chmod(0o755)
        exe = str(fake)
        assert not di._same_python(fake)
    monkeypatch.setattr(sys, "executable", exe)
    found = di.find_python()
    assert found is not None and Path(found).name.startswith("python") and found != exe
    probe = "import sys; print(sys.version_info[:2], sys.base_prefix)"
    out = subprocess.run([found, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{sys.version_info[:2]} {sys.base_prefix}"


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).is_file(), reason="no Debian python3")
def test_real_pip_target_install_from_a_local_wheelhouse(tmp_path: Path, monkeypatch) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "onnxruntime-gpu", "0.0.1", "onnxruntime",
               "__version__ = '0.0.1'\n"
               "def get_available_providers():\n    return ['CPUExecutionProvider']\n",
               requires=("numpy>=1.21.6", "upsegfakedep"))
    make_wheel(wheels, "upsegfakedep", "1.0", "upsegfakedep", "")
    target = tmp_path / "profile" / "python" / "upseg_site-packages"
    monkeypatch.setenv("UPSEG_SITE_PACKAGES", str(target))
    monkeypatch.setattr(sys, "path", list(sys.path))  # the report adds the folder to sys.path
    plan = di.plan_install(target, requirement="onnxruntime-gpu==0.0.1", python=SYSTEM_PYTHON,
                           extra_pip_args=("--no-index", "--find-links", str(wheels)),
                           dependencies=("numpy>=1.21.6", "upsegfakedep"))
    assert not plan.problems, plan.problems
    report = di.run_install(plan)
    assert report.ok, report.message + report.details
    assert report.version == "0.0.1" and report.providers == ["CPUExecutionProvider"]
    assert (target / "onnxruntime" / "__init__.py").is_file()
    assert (target / "upsegfakedep").is_dir()
    assert not (target / "numpy").exists()  # QGIS's numpy is used, never a second copy
    assert "Installed onnxruntime-gpu==0.0.1, upsegfakedep into" in report.message
    assert f"(pip of {SYSTEM_PYTHON})" in report.message
    assert "QGIS's own Python packages were not changed" in report.message
    assert str(target) in sys.path and sys.path.index(str(target)) == len(sys.path) - 1
    # Run again (an upgrade): pip replaces the files in place.
    again = di.run_install(plan)
    assert again.ok, again.details


@pytest.mark.parametrize(("platform", "machine", "python", "package"), [
    ("linux", "x86_64", (3, 11), "onnxruntime-gpu"),  # Debian 12, QGIS 3.22/3.40
    ("linux", "x86_64", (3, 13), "onnxruntime-gpu"),  # Debian 13, QGIS 3.40/3.44
    ("win32", "AMD64", (3, 12), "onnxruntime-gpu"),  # OSGeo4W / standalone QGIS 3.40+
    ("darwin", "arm64", (3, 12), "onnxruntime"),  # no GPU build for macOS
    ("linux", "aarch64", (3, 12), "onnxruntime"),
    ("darwin", "x86_64", (3, 12), None),  # 1.31 publishes no Intel-mac wheel
    ("win32", "AMD64", (3, 9), None),  # QGIS 3.22 on Windows: too old a Python
])
def test_picks_the_build_for_the_python_and_platform(platform, machine, python,
                                                     package) -> None:
    build = di.pick_build(platform, machine, python)
    if package is None:
        assert build.requirement == ""
        assert f"Python {python[0]}.{python[1]}" in build.reason
    else:
        assert build.requirement == f"{package}=={di.ORT_VERSION}"
        assert package in build.reason and f"{python[0]}.{python[1]}" in build.reason


def test_an_unsupported_platform_stops_the_plan_with_the_reason(monkeypatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setattr(di, "_machine", lambda: "ppc64le")
    plan = di.plan_install(tmp_path / "t", python=SYSTEM_PYTHON, check_pip=False)
    assert plan.problems and "publishes no build" in plan.problems[0]
    report = di.run_install(plan, runner=_fail_if_called)
    assert not report.ok and "ppc64le" in report.message


def test_the_plan_says_what_it_picked(tmp_path: Path) -> None:
    plan = di.plan_install(tmp_path / "t", python=SYSTEM_PYTHON, check_pip=False)
    report = di.run_install(plan, dry_run=True, runner=_fail_if_called)
    assert f"Picked: {plan.choice}" in report.message
    assert plan.requirement.split("==")[0] in plan.choice
