"""Run-time dependency checks, with exact install instructions.

The plugin must load without onnxruntime (so the provider and its help are visible); the
algorithms call `require_runtime()` when they run and turn its message into the user's error.
Nothing here looks at version numbers: it checks what inference needs to work, whatever numpy
(1.x or 2.x) and Python the user's QGIS ships: that QGIS's GDAL can hand arrays to this numpy,
and that ONNX Runtime imports and runs a tiny graph on a numpy array (ABI compatibility).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from pathlib import Path

ORT_VERSION = "1.31.1"
ORT_REQUIREMENT = f"onnxruntime-gpu=={ORT_VERSION}"
MIN_PYTHON = (3, 11)  # the oldest Python the code and ONNX Runtime 1.31 support
PRIVATE_DIR_NAME = "upseg_site-packages"
# y = x + x for float32 [N]: a 100-byte graph, so the check runs in milliseconds.
PROBE_MODEL = Path(__file__).with_name("resources") / "probe_add.onnx"


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
        "Install ONNX Runtime for the Python that QGIS runs, leaving QGIS's numpy as it is "
        "(or use Plugins > UPSeg's install offer in the QGIS desktop):\n"
        + manual_instructions()
        + "\nIn a checkout of the UPSeg repository, `make setup` does it all."
    )


def python_problem(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> str | None:
    if tuple(version[:2]) >= MIN_PYTHON:
        return None
    want = ".".join(map(str, MIN_PYTHON))
    have = ".".join(map(str, version[:2]))
    return (f"UPSeg needs Python {want} or newer; this QGIS runs Python {have}. "
            "Install a QGIS build that ships a newer Python (QGIS 3.40 or later on Windows "
            "and macOS, or your Linux distribution's QGIS 3.40+ on Python 3.11+).")


def gdal_numpy_problem() -> str | None:
    """Can QGIS's own GDAL bindings exchange arrays with the numpy this Python imports?"""
    try:
        np = importlib.import_module("numpy")
    except ImportError as exc:
        return f"numpy cannot be imported ({exc}); it comes with QGIS: repair the QGIS install."
    try:
        from osgeo import gdal, gdal_array

        ds = gdal.GetDriverByName("MEM").Create("", 3, 2, 1, gdal.GDT_Float32)
        want = np.arange(6, dtype=np.float32).reshape(2, 3)
        gdal_array.BandWriteArray(ds.GetRasterBand(1), want)
        got = ds.GetRasterBand(1).ReadAsArray()
        if got is None or not np.array_equal(got, want):
            raise RuntimeError("arrays do not round-trip")
    except Exception as exc:  # ImportError, AttributeError (_ARRAY_API), RuntimeError
        where = getattr(np, "__file__", "?")
        return (f"QGIS's GDAL Python bindings cannot exchange arrays with numpy "
                f"{np.__version__} ({where}): {str(exc).strip().splitlines()[0]}. "
                "This happens when another numpy was installed into QGIS's Python: remove it "
                "so QGIS's own numpy is used again (the numpy QGIS ships always works).")
    return None


def onnxruntime_problem() -> str | None:
    """Does ONNX Runtime import and run a tiny graph on a numpy array here?"""
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError as exc:
        return f"ONNX Runtime is not installed or does not import ({exc})."
    try:
        import numpy as np

        session = ort.InferenceSession(str(PROBE_MODEL), providers=["CPUExecutionProvider"])
        x = np.array([1.0, 2.5], dtype=np.float32)
        (y,) = session.run(None, {"x": x})
        if not np.allclose(y, x + x):
            raise RuntimeError(f"wrong result {y!r}")
    except Exception as exc:  # a numpy ABI mismatch shows up here, not at import
        return (f"ONNX Runtime {getattr(ort, '__version__', '?')} imports but cannot run a "
                f"model with this numpy ({str(exc).strip().splitlines()[0]}). Reinstall ONNX "
                "Runtime for this Python (the plugin's installer picks a matching build).")
    return None


@functools.lru_cache(maxsize=1)
def _cached_problems() -> tuple[str, ...]:
    checks = (python_problem(), gdal_numpy_problem(), onnxruntime_problem())
    return tuple(p for p in checks if p)


def runtime_problems(refresh: bool = False) -> list[str]:
    """What stops inference from running, as sentences; empty when all is well. Checked once
    per process (the installer asks for a refresh after it ran)."""
    if refresh:
        _cached_problems.cache_clear()
    return list(_cached_problems())


def runtime_message() -> str | None:
    """The user's error when inference cannot run (None when it can): the problems, and the
    install commands when ONNX Runtime is what is missing or broken."""
    problems = runtime_problems()
    if not problems:
        return None
    text = " ".join(problems)
    if any("ONNX Runtime" in p for p in problems):
        text += "\n" + install_instructions()
    return text


def require_runtime() -> None:
    """Raise RuntimeError with instructions if inference cannot run."""
    message = runtime_message()
    if message:
        raise RuntimeError(message)
