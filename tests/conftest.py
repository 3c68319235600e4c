"""Test-wide set-up: offscreen Qt, a project-local QGIS profile, Processing, the UPSeg provider.

The environment is set at import time, before pytest-qgis creates the QgsApplication, so no test
ever touches the user's own QGIS profile.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
