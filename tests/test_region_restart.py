"""Starting a region job over never breaks the output it replaces.

A .vrt output reads the tiles in the work folder. Starting over (another request, or a restart)
plans a new generation of the work folder beside the old one, so the old output keeps reading
its tiles until the new one is committed; a new run that fails leaves it whole. SYNTHETIC scenes
and the toy model throughout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal

from tests.region_scenes import read, region, synthetic_scenes
from tests.toy_model import DEFAULT_WEIGHTS, build_toy_model
from upseg_qgis.core.region.manifest import WorkFolder
from upseg_qgis.core.region.run import RegionError
from upseg_qgis.core.region.runner import run_window


def _failing(name: str) -> Any:
    def run(job: Any, window: Any, threads: Any, is_cancelled: Any = None) -> Any:
        if window.name == name:
            raise RuntimeError(f"disk error in {window.name}")
        return run_window(job, window, threads, is_cancelled)

    return run


def _sources(vrt: Path) -> list[str]:
    ds = gdal.Open(str(vrt))
    return list(ds.GetFileList()[1:])


def test_restart_keeps_the_old_vrt_whole_until_the_new_one_is_committed(tmp_path: Path) -> None:
    """SYNTHETIC: a VRT output, then a changed request (another model) whose runs fail midway:
    the old VRT still opens and reads its pixels; a successful rerun replaces it and only then
    are the old generations removed."""
    sc = synthetic_scenes(tmp_path, width=300, height=100)
    old_model = build_toy_model(tmp_path / "old.onnx")
    # Another model (water wherever the SAR is darker than 1.5 sd above the mean): other pixels.
    new_model = build_toy_model(tmp_path / "new.onnx", weights=DEFAULT_WEIGHTS,
                                bias=np.array([0.0, 3.0], np.float32))
    out = tmp_path / "region.vrt"
    kw = {"window_size": 50, "retries": 0}
    region(sc["optical"], [sc["whole_sar"]], out, model=old_model, **kw)
    old = read(out)

    for restart in (False, True):  # a changed request, then a restart of it: both fail midway
        with pytest.raises(RegionError, match="r001_c001"):
            region(sc["optical"], [sc["whole_sar"]], out, model=new_model, overwrite=True,
                   restart=restart, run=_failing("r001_c001"), **kw)
        np.testing.assert_array_equal(read(out), old)  # opens, and reads the old pixels
        assert all(Path(s).is_file() for s in _sources(out))
    assert WorkFolder(out).generations() == [1, 2, 3]

    r = region(sc["optical"], [sc["whole_sar"]], out, model=new_model, overwrite=True, **kw)
    assert r.done_before == r.windows - 1 and r.ran == 1  # the newest generation resumed
    new = read(out)
    assert (new != old).any()
    work = WorkFolder(out)
    assert work.generations() == [3] and work.path == work.root / "gen3"
    assert all(Path(s).is_relative_to(work.path) for s in _sources(out))
    assert sorted(p.name for p in work.root.iterdir()) == ["gen3"]  # and the lock is gone


def test_generation_zero_of_earlier_versions_is_resumed_and_removed_alone(tmp_path: Path) -> None:
    """A work folder written before generations (its job directly in `<stem>.region/`) is
    generation 0: resumed as it is, and removed without touching the lock or newer ones."""
    out = tmp_path / "out.vrt"
    root = out.with_name("out.region")
    (root / "tiles").mkdir(parents=True)
    (root / "manifest.json").write_text("{}")
    (root / "tiles" / "r000_c000.tif").write_bytes(b"tile")
    assert WorkFolder(out).generations() == [0] and WorkFolder(out).path == root
    newer = WorkFolder(out).next_generation()
    assert newer.generation == 1
    newer.tiles.mkdir(parents=True)
    (root / "lock").write_text("held")
    assert WorkFolder(out).remove_generations({1}) == [0]
    assert sorted(p.name for p in root.iterdir()) == ["gen1", "lock"]
