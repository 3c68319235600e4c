"""The core's command line (no QGIS, no torch): segment as upseg:segment does, region jobs
killed half-way and rerun, and all of it without Dask installed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.region_scenes import read, seg
from tests.toy_model import build_toy_model, geographic_scene
from upseg_qgis.core.region.manifest import WorkFolder

CLI = [sys.executable, "-m", "upseg_qgis.core.cli"]
# Imports Dask would need fail, as on a machine without requirements/cluster.txt.
NO_DASK = ("import sys; sys.modules.update(dask=None, distributed=None); "
           "from upseg_qgis.core.cli import main; sys.exit(main(sys.argv[1:]))")


def _cli(*args: str, no_dask: bool = False, **kw: Any) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", NO_DASK] if no_dask else CLI
    return subprocess.Popen([*cmd, *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _done(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    opt, sar = geographic_scene(d, width=480, height=360)
    return {"optical": opt, "sar": sar, "model": build_toy_model(d / "toy.onnx"), "dir": d}


def test_segment_command_is_upseg_segment(scene: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = _done(_cli("segment", "--optical", scene["optical"], "--sar", scene["sar"],
                                "--model", scene["model"], "--output", tmp_path / "cli.tif",
                                "--device", "cpu", "--tile-size", "64", "--json"))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["provider"] == "CPUExecutionProvider" and doc["optical_bands"] == [1, 2, 3]
    ref = seg(scene["optical"], scene["sar"], tmp_path / "ref.tif", model=scene["model"],
              tile=64)
    np.testing.assert_array_equal(read(tmp_path / "cli.tif"), read(ref.output))
    assert "Mpx/s" in err  # the log goes to stderr, the JSON alone to stdout


def test_bad_input_exits_1_with_what_to_do(tmp_path: Path) -> None:
    code, _, err = _done(_cli("region", "--optical", tmp_path / "nope.tif", "--sar",
                              tmp_path, "--output", tmp_path / "o.tif"))
    assert code == 1 and "does not exist. Give files or folders." in err
    code, _, err = _done(_cli("region", "--optical", "a.tif", "--sar", "b.tif"))
    assert code == 2 and "--output" in err


def test_whole_run_killed_half_way_then_rerun_finishes_only_the_rest(
    scene: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "region.tif"
    args = ["region", "--optical", scene["optical"], "--sar", scene["sar"], "--model",
            scene["model"], "--output", out, "--device", "cpu", "--window-size", "48",
            "--tile-size", "32", "--overlap", "4", "--threads", "1", "--json"]
    proc = _cli(*args)
    work = WorkFolder(out)
    deadline = time.monotonic() + 60
    # 80 windows of some 40 ms each: kill -9 as soon as a few are recorded.
    while len(work.finished()) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    finished = len(work.finished())
    assert 3 <= finished < 80 and not out.exists()
    code, stdout, err = _done(_cli(*args, no_dask=True))  # the rerun needs no Dask either
    assert code == 0, err
    doc = json.loads(stdout)
    assert (doc["windows"], doc["done_before"], doc["ran"]) == (80, finished, 80 - finished)
    assert f"{finished} of 80 window(s) already finished" in err
    ref = seg(scene["optical"], scene["sar"], tmp_path / "ref.tif", model=scene["model"],
              tile=32, overlap=4)
    np.testing.assert_array_equal(read(out), read(ref.output))


def test_without_dask_a_scheduler_says_how_to_install(scene: dict[str, Path],
                                                      tmp_path: Path) -> None:
    code, _, err = _done(_cli("region", "--optical", scene["optical"], "--sar", scene["sar"],
                              "--model", scene["model"], "--output", tmp_path / "o.tif",
                              "--device", "cpu", "--scheduler", "local", no_dask=True))
    assert code == 1 and "Dask is not installed" in err and "requirements/cluster.txt" in err
    assert not (tmp_path / "o.tif").exists()


def test_no_dask_import_unless_a_scheduler_is_asked_for() -> None:
    probe = ("import sys; import upseg_qgis.core.cli, upseg_qgis.core.region.run; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed',"
             " 'torch', 'qgis')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"
