"""Run-time dependency checks, as sentences that say what is wrong.

The plugin must load without onnxruntime (so the provider and its help are visible); the
algorithms call `guard.require_runtime()` when they run and turn its message into the user's error.
Nothing here looks at version numbers: it checks what inference needs to work, whatever numpy
(1.x or 2.x) and Python the user's QGIS ships: that QGIS's GDAL can hand arrays to this numpy,
and that ONNX Runtime imports and runs a tiny graph on a numpy array (ABI compatibility).
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path

from .constants import MIN_PYTHON

# y = x + x for float32 [N]: a 100-byte graph, so the check runs in milliseconds.
PROBE_MODEL = Path(__file__).resolve().parent.parent / "resources" / "probe_add.onnx"


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
