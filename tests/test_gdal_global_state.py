"""The plugin leaves GDAL's process-wide exception mode as it found it.

The mode is one flag per module (gdal, ogr, osr) shared by every thread and plugin in the
user's QGIS. Importing the algorithms once switched it on for the whole process; after that,
GDAL errors from other code surfaced in upseg:segment as the wrong kind of error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gdal_modes import exception_modes, set_exception_modes
from tests.toy_model import build_toy_model, geographic_scene

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: this test process has imported test modules that set the mode.
_PROBE = r"""
import importlib, json, pkgutil, sys
from osgeo import gdal, ogr, osr
on = sys.argv[1] == "on"
for m in (gdal, ogr, osr):
    (m.UseExceptions if on else m.DontUseExceptions)()
def mode():
    return [m.GetUseExceptions() for m in (gdal, ogr, osr)]
before = mode()
import upseg_qgis
modules = []
for info in pkgutil.walk_packages(upseg_qgis.__path__, "upseg_qgis."):
    importlib.import_module(info.name)
    modules.append(info.name)
print(json.dumps({"before": before, "after": mode(), "modules": modules}))
"""


@pytest.mark.parametrize("mode", ["off", "on"])
def test_importing_every_module_leaves_the_gdal_mode_alone(mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:/usr/share/qgis/python/plugins",
           "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = [1, 1, 1] if mode == "on" else [0, 0, 0]
    assert result["before"] == expected and result["after"] == expected
    for name in ("upseg_qgis.algorithms.class_areas", "upseg_qgis.algorithms.polygonize_classes",
                 "upseg_qgis.algorithms.segment", "upseg_qgis.core.accuracy.evaluation",
                 "upseg_qgis.core.run.pipeline"):
        assert name in result["modules"]


@pytest.mark.parametrize("on", [False, True])
def test_running_the_core_leaves_the_gdal_mode_alone(tmp_path: Path, on: bool) -> None:
    from upseg_qgis.core.accuracy.evaluation import evaluate_rasters
    from upseg_qgis.core.run.pipeline import RuntimeOptions, segment

    saved = exception_modes()
    try:
        set_exception_modes([on] * 3)
        opt, sar = geographic_scene(tmp_path, width=40, height=30)
        r = segment(str(opt), str(sar), str(tmp_path / "out.tif"),
                    model=str(build_toy_model(tmp_path / "toy.onnx")),
                    runtime=RuntimeOptions(device="cpu"))
        evaluate_rasters(r.output, r.output)
        assert exception_modes() == [on] * 3
    finally:
        set_exception_modes(saved)
