"""Run-time dependency checks: ONNX Runtime and numpy 1.x, with exact install instructions.

The plugin must load without onnxruntime (so the provider and its help are visible); the
algorithms call `require_runtime()` when they run and turn its message into the user's error.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ORT_REQUIREMENT = "onnxruntime-gpu==1.31.1"
NUMPY_REQUIREMENT = "numpy>=1.26,<2"
PRIVATE_DIR_NAME = "upseg_site-packages"


def private_site_dir() -> Path:
    """Plugin-private folder for `pip install --target`, inside the QGIS profile (not the plugin
    folder, so a plugin upgrade keeps it)."""
    override = os.environ.get("UPSEG_SITE_PACKAGES")
    if override:
        return Path(override)
    try:
        from qgis.core import QgsApplication

        base = Path(QgsApplication.qgisSettingsDirPath())
    except Exception:  # outside QGIS: the user's home
        base = Path.home() / ".upseg"
    return base / "python" / PRIVATE_DIR_NAME


def add_private_site_dir() -> None:
    """Make packages installed into the private folder importable, after QGIS's own ones."""
    path = str(private_site_dir())
    if Path(path).is_dir() and path not in sys.path:
        sys.path.append(path)  # appended: never shadows QGIS's numpy or GDAL


def install_instructions() -> str:
    """Exact commands for the Python that QGIS runs (worked out by the installer module, which
    also finds QGIS's own interpreter inside the desktop)."""
    from .dependency_installer import manual_instructions

    return (
        "Install ONNX Runtime for the Python that QGIS runs, keeping numpy 1.x "
        "(or use Plugins > UPSeg's install offer in the QGIS desktop):\n"
        + manual_instructions()
        + "\nIn a checkout of the UPSeg repository, `make setup` does it all."
    )


def runtime_problems() -> list[str]:
    """What stops inference from running, as sentences; empty when all is well."""
    problems: list[str] = []
    try:
        np = importlib.import_module("numpy")
        if int(np.__version__.split(".")[0]) >= 2:
            problems.append(
                f"numpy {np.__version__} is installed, but QGIS's GDAL bindings need numpy 1.x "
                f"({NUMPY_REQUIREMENT})."
            )
    except ImportError:
        problems.append("numpy is not installed.")
    try:
        importlib.import_module("onnxruntime")
    except ImportError as exc:
        problems.append(f"ONNX Runtime is not installed ({exc}).")
    return problems


def require_runtime() -> None:
    """Raise RuntimeError with install instructions if inference cannot run."""
    problems = runtime_problems()
    if problems:
        raise RuntimeError(" ".join(problems) + "\n" + install_instructions())
