"""Test-wide set-up: offscreen Qt, a project-local QGIS profile, Processing, the UPSeg provider.

The environment is set at import time, before pytest-qgis creates the QgsApplication, so no test
ever touches the user's own QGIS profile.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import torch_deps

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("UPSEG_DATA_ROOT", ROOT.parent / "shared" / "data"))
TEST_PROFILE = ROOT / ".qgis-test-profile"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_DATA_HOME"] = str(TEST_PROFILE)
os.environ["UPSEG_QGIS_PROFILE"] = str(TEST_PROFILE)
# Tests must never write .aux.xml side files next to the shared real data.
os.environ["GDAL_PAM_ENABLED"] = "NO"
for p in (str(ROOT), "/usr/share/qgis/python/plugins"):
    if p not in sys.path:
        sys.path.insert(0, p)


# UPSEG_TESTS_WITHOUT_TORCH=1 collects as if torch were missing (what a torch-free leg runs).
HAVE_TORCH = (importlib.util.find_spec("torch") is not None
              and os.environ.get("UPSEG_TESTS_WITHOUT_TORCH") != "1")
TORCH_HINT = "the training side is not installed here: `make setup TRAINING=1` adds it"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "torch: needs the training side (torch); set by tests/torch_deps.py"
    )
    config.stash[_deselected_torch] = 0


_deselected_torch = pytest.StashKey[int]()


class TorchMissing(pytest.Item):
    """Stands for a test whose module cannot be imported without torch, so that `-m "not torch"`
    deselects it (and pytest counts it) rather than the module failing to collect."""

    funcargs: dict[str, object] = {}  # read by pytest-qgis's teardown hook

    def runtest(self) -> None:
        pytest.fail(f"{self.nodeid} needs torch; {TORCH_HINT}", pytrace=False)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name


class TorchModule(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        for name, cases in torch_deps.listed_tests(self.path):
            for case in range(cases):
                suffix = f"[{case}]" if cases > 1 else ""
                item = TorchMissing.from_parent(self, name=name + suffix)
                item.add_marker(pytest.mark.torch)
                yield item


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> object:
    if not HAVE_TORCH and torch_deps.module_path_needs_torch(module_path):
        return TorchModule.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs torch, before `-m` selects (the marker comes from the source)."""
    for item in items:
        path = Path(str(item.path))
        if item.get_closest_marker("torch") or not path.name.startswith("test_"):
            continue
        func = getattr(item, "originalname", item.name)
        if getattr(item, "cls", None) is not None:
            func = f"{item.cls.__name__}.{func}"
        fixtures = getattr(item, "fixturenames", ())
        if (torch_deps.module_path_needs_torch(path)
                or torch_deps.function_needs_torch(path, func)
                or any(torch_deps.fixture_needs_torch(f, path) for f in fixtures)):
            item.add_marker(pytest.mark.torch)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        config = items[0].config
        config.stash[_deselected_torch] += sum(1 for i in items if i.get_closest_marker("torch"))


def pytest_terminal_summary(terminalreporter: object, config: pytest.Config) -> None:
    n = config.stash.get(_deselected_torch, 0)
    if n:
        where = "" if HAVE_TORCH else f" ({TORCH_HINT})"
        terminalreporter.write_line(f"deselected {n} tests that need torch{where}")


def require_shared_data(sub: str = "") -> Path:
    """The real data folder (or a part of it). Missing is a failure, never a skip: a clean
    clone has ../shared/data beside it, and CI runs the real-data tests."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.fail(f"real data {path} is missing: put the shared data at {SHARED_DATA} (or set "
                    "UPSEG_DATA_ROOT); the real-data tests must run, not skip", pytrace=False)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()


@pytest.fixture(scope="module")
def torch_one_thread() -> Iterator[None]:
    """torch on one thread for a module: 2 cores are shared with the rest of the suite."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def upseg_plugin(qgis_app: object) -> Iterator[object]:
    """The plugin loaded the way qgis_process loads it (`classFactory(None)`), with Processing
    initialised. Session-scoped: a provider created in Python must stay referenced, and an id can
    be registered only once."""
    from processing.core.Processing import Processing

    import upseg_qgis

    Processing.initialize()
    plugin = upseg_qgis.classFactory(None)
    plugin.initProcessing()
    yield plugin


@pytest.fixture(scope="session")
def upseg_provider(upseg_plugin: object) -> object:
    return upseg_plugin.provider


@pytest.fixture(scope="session")
def qgis_process() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `scripts/qgis-process ARGS...` (headless qgis_process against the checkout) with the
    project-local test profile; returns the completed process."""

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env["UPSEG_QGIS_PROFILE"] = str(TEST_PROFILE)
        return subprocess.run(
            [str(ROOT / "scripts" / "qgis-process"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=ROOT,
        )

    return run
