"""The leaf of the dependency subsystem: the pinned ONNX Runtime, the oldest Python, and the
plugin-private site-packages folder (inside the QGIS profile) that the installer fills."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ORT_VERSION = "1.31.1"
ORT_REQUIREMENT = f"onnxruntime-gpu=={ORT_VERSION}"
MIN_PYTHON = (3, 11)  # the oldest Python the code and ONNX Runtime 1.31 support
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
