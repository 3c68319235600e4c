"""The plugin's run-time check looks at what inference needs (GDAL <-> numpy arrays, ONNX
Runtime running a graph on this numpy, Python version), never at numpy's version number: it
passes with numpy 1.x here and with numpy 2.x in the QGIS 3.44 leg, and each failure it can
report is produced on purpose below."""

from __future__ import annotations

import numpy as np
import pytest

from upseg_qgis.dependencies import check as deps
from upseg_qgis.dependencies import guard


@pytest.fixture(autouse=True)
def _fresh_cache():
    deps.runtime_problems(refresh=True)
    yield
    deps.runtime_problems(refresh=True)


def test_everything_this_qgis_needs_is_there_whatever_numpy_major() -> None:
    assert deps.runtime_problems(refresh=True) == [], f"numpy {np.__version__}"
    assert guard.runtime_message() is None
    guard.require_runtime()  # does not raise


def test_gdal_that_cannot_take_this_numpy_is_reported(monkeypatch) -> None:
    from osgeo import gdal_array

    def broken(*_args, **_kwargs):
        raise AttributeError("_ARRAY_API not found")  # what numpy-1 bindings say under numpy 2

    monkeypatch.setattr(gdal_array, "BandWriteArray", broken)
    problem = deps.gdal_numpy_problem()
    assert problem is not None
    assert f"numpy {np.__version__}" in problem and "_ARRAY_API not found" in problem
    assert "QGIS's own numpy" in problem
    message = guard.runtime_message() if deps.runtime_problems(refresh=True) else None
    assert message and "_ARRAY_API" in message
    assert "pip install" not in message  # installing ONNX Runtime would not help here


def test_onnxruntime_that_cannot_run_a_graph_is_reported(monkeypatch) -> None:
    import onnxruntime

    class Broken:
        def __init__(self, *_args, **_kwargs):
            raise ImportError("numpy.core.multiarray failed to import")

    monkeypatch.setattr(onnxruntime, "InferenceSession", Broken)
    problem = deps.onnxruntime_problem()
    assert problem is not None and "cannot run a model with this numpy" in problem
    deps.runtime_problems(refresh=True)
    with pytest.raises(RuntimeError, match="multiarray failed") as err:
        guard.require_runtime()
    assert "pip" in str(err.value)  # ONNX Runtime problems come with the install commands


def test_the_probe_model_really_runs() -> None:
    assert deps.PROBE_MODEL.is_file() and deps.PROBE_MODEL.stat().st_size < 1024
    assert deps.onnxruntime_problem() is None


@pytest.mark.parametrize(("version", "ok"), [((3, 9), False), ((3, 10), False),
                                             ((3, 11), True), ((3, 13), True)])
def test_python_version_floor(version: tuple[int, int], ok: bool) -> None:
    problem = deps.python_problem(version)
    assert (problem is None) is ok
    if not ok:
        assert f"Python {version[0]}.{version[1]}" in problem and "3.11" in problem


def test_the_check_runs_once_per_process(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(deps, "gdal_numpy_problem", lambda: calls.append(1))
    deps.runtime_problems(refresh=True)
    deps.runtime_problems()
    deps.runtime_problems()
    assert calls == [1]
