"""Region jobs without inference: window plans and halos, the manifest, scene lists, the grid."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from tests.toy_model import write_raster
from upseg_qgis.core.raster.gdal_errors import RasterError
from upseg_qgis.core.raster.grid import Grid, Window
from upseg_qgis.core.region.grid import GridRequest, output_grid, sub_window
from upseg_qgis.core.region.inputs import describe_scenes, expand_inputs
from upseg_qgis.core.region.job import RegionJob
from upseg_qgis.core.region.manifest import WindowRecord, WorkFolder
from upseg_qgis.core.region.plan import PlanError, plan_windows, rect_in_halo
from upseg_qgis.core.run.tiling import plan_tiles


@pytest.mark.parametrize("size", [(300, 200, 64, 8, 100), (512, 512, 256, 32, 200),
                                  (1000, 37, 64, 8, 64), (50, 40, 64, 8, 16)])
def test_windows_partition_the_grid_and_halos_are_whole_global_tiles(size: tuple) -> None:
    width, height, tile, overlap, window = size
    layout, _ = plan_tiles(width, height, tile, overlap, 16)
    windows = plan_windows(layout, window)
    owned = np.zeros((height, width), np.int32)
    for w in windows:
        r, h = w.rect, w.halo
        owned[r.yoff:r.yoff + r.height, r.xoff:r.xoff + r.width] += 1
        inner = rect_in_halo(w)
        assert inner.xoff >= 0 and inner.yoff >= 0
        assert inner.xoff + r.width <= h.width and inner.yoff + r.height <= h.height
        # The halo starts at a global tile and ends at one (or the grid's edge)...
        assert h.xoff in layout.xs and h.yoff in layout.ys
        assert h.xoff + h.width in {x + layout.tile_w for x in layout.xs} | {width}
        assert h.yoff + h.height in {y + layout.tile_h for y in layout.ys} | {height}
        # ...and holds every global tile touching the window's own pixels.
        for x in layout.xs:
            if x < r.xoff + r.width and x + layout.tile_w > r.xoff:
                assert h.xoff <= x and x + min(layout.tile_w, width - x) <= h.xoff + h.width
    assert (owned == 1).all()
    assert len({w.name for w in windows}) == len(windows)


def test_a_window_halo_replans_to_the_same_tiles_shifted() -> None:
    """The single-scene code plans tiles over the halo anew: they must be the global tiles."""
    layout, _ = plan_tiles(700, 500, 128, 16, 16)
    for w in plan_windows(layout, 150):
        h = w.halo
        sub, _ = plan_tiles(h.width, h.height, 128, 16, 16)
        inside_x = [x for x in layout.xs if h.xoff <= x and min(x + 128, 700) <= h.xoff + h.width]
        inside_y = [y for y in layout.ys if h.yoff <= y and min(y + 128, 500) <= h.yoff + h.height]
        assert [x + h.xoff for x in sub.xs] == inside_x
        assert [y + h.yoff for y in sub.ys] == inside_y


def test_window_size_too_small_is_refused() -> None:
    layout, _ = plan_tiles(100, 100, 64, 8, 16)
    with pytest.raises(PlanError, match="at least 16"):
        plan_windows(layout, 8)


def _job(tmp_path: Path) -> RegionJob:
    return RegionJob(
        optical="o.vrt", sar="s.vrt", model="m.onnx", optical_bands=[1, 2, 3], sar_bands=[1],
        optical_units="uint8_rendering", sar_units="sar_db", tile_size=64, overlap=8,
        multiple_of=16, fixed_size=False, grid_width=100, grid_height=80,
        geotransform=[0.0, 1.0, 0.0, 80.0, 0.0, -1.0], crs_wkt="", window_size=50,
        confidence=False, work_dir=str(tmp_path / "out.region"),
    )


def test_manifest_round_trip_resume_and_torn_lines(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "out.tif")
    job = _job(tmp_path)
    windows = plan_windows(job.layout(), 50)
    work.create("abc", job, windows)
    fp, job2, windows2 = work.load()
    assert fp == "abc" and job2 == job and windows2 == windows
    (work.tiles / "r000_c000.tif").write_bytes(b"tile")
    work.record(WindowRecord("r000_c000", "tiles/r000_c000.tif", seconds=1.0))
    work.record(WindowRecord("r000_c001", "tiles/r000_c001.tif"))  # its tile went missing
    work.record(WindowRecord("r001_c000", None))  # no data: nothing to compute
    with open(work.done_log, "a") as f:
        f.write('{"name": "r001_c001", "ti')  # torn by a crash
    assert sorted(work.finished()) == ["r000_c000", "r001_c000"]
    assert work.finished()["r001_c000"].empty
    (work.tiles / "r000_c001.halo.1234abcd.partial.tif").write_bytes(b"killed mid-window")
    assert work.remove_strays({"tiles/r000_c000.tif"}) == 1
    assert [p.name for p in work.tiles.iterdir()] == ["r000_c000.tif"]


def test_unreadable_manifest_says_what_to_do(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "out.tif")
    work.path.mkdir(parents=True)
    work.manifest.write_text("{not json")
    with pytest.raises(RasterError, match="Delete the folder"):
        work.load()


def test_lock_refuses_a_live_run_and_takes_a_dead_one(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "out.tif")
    work.path.mkdir(parents=True)
    parent = os.getppid()  # alive, and not this process
    work.lock.write_text(f"{socket.gethostname()} {parent}")
    with pytest.raises(RasterError, match="Another run"):
        work.take_lock()
    work.lock.write_text(f"{socket.gethostname()} 999999999")  # no such process
    work.take_lock()
    from upseg_qgis.core.locks import read_owner

    owner = read_owner(work.lock)
    assert owner is not None and owner.pid == os.getpid()
    work.release_lock()
    assert not work.lock.exists()


def test_scene_lists_expand_folders_and_refuse_mixed_bands(tmp_path: Path) -> None:
    folder = tmp_path / "scenes"
    folder.mkdir()
    a = write_raster(folder / "a.tif", np.ones((3, 8, 8), np.uint8), descriptions=["r", "g", "b"])
    b = write_raster(folder / "b.tif", np.ones((3, 8, 8), np.uint8),
                     (3.0008, 1e-4, 0, 40.0, 0, -1e-4), descriptions=["r", "g", "b"])
    (folder / "notes.txt").write_text("not a raster")
    assert expand_inputs([folder, a], "optical") == [str(a.resolve()), str(b.resolve())]
    with pytest.raises(RasterError, match="does not exist"):
        expand_inputs([tmp_path / "missing.tif"], "optical")
    odd = write_raster(tmp_path / "odd.tif", np.ones((2, 8, 8), np.uint8))
    with pytest.raises(RasterError, match="same bands"):
        describe_scenes([str(a), str(odd)], "optical")
    f32 = write_raster(tmp_path / "f32.tif", np.ones((3, 8, 8), np.float32),
                       descriptions=["r", "g", "b"])
    with pytest.raises(RasterError, match="one data type"):
        describe_scenes([str(a), str(f32)], "optical")


def test_output_grid_from_the_optical_or_as_asked() -> None:
    mosaic = Grid(1000, 800, (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0), _utm(31))
    assert output_grid(mosaic, GridRequest()) == mosaic
    # An extent alone keeps whole optical pixels (outward), like EXTENT in upseg:segment.
    sub = output_grid(mosaic, GridRequest(extent=(500105.0, 3995000.0, 501000.0, 3999995.0)))
    assert sub_window(mosaic, sub) == Window(10, 0, 90, 500)
    # A new resolution: a lattice of multiples of it, covering the extent.
    coarse = output_grid(mosaic, GridRequest(resolution=30.0))
    gt = coarse.geotransform
    assert gt is not None and gt[1] == 30.0 and gt[0] % 30 == 0 and gt[3] % 30 == 0
    assert coarse.bounds[0] <= 500000 and coarse.bounds[2] >= 510000
    geo = output_grid(mosaic, GridRequest(crs="EPSG:4326", resolution=1e-4))
    assert "4326" in geo.crs_wkt or "WGS 84" in geo.crs_wkt
    with pytest.raises(RasterError, match="not understood"):
        output_grid(mosaic, GridRequest(crs="EPSG:nonsense"))


def _utm(zone: int) -> str:
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32600 + zone)
    return srs.ExportToWkt()


def test_job_is_plain_json(tmp_path: Path) -> None:
    job = _job(tmp_path)
    assert RegionJob.from_json(json.loads(json.dumps(job.to_json()))) == job


def test_optical_scenes_with_different_offsets_are_refused(tmp_path: Path) -> None:
    """Sentinel-2 from before and after processing baseline 04.00 in one job: the unit (and its
    -1000 offset) cannot be right for both, so the job says so instead of biasing half."""
    from upseg_qgis.core.inputs.units import UnitsError
    from upseg_qgis.core.region.job import check_one_offset

    data = np.full((3, 8, 8), 1500, np.uint16)
    old = write_raster(tmp_path / "old.tif", data, descriptions=["B4", "B3", "B2"])
    new = write_raster(tmp_path / "new.tif", data, descriptions=["B4", "B3", "B2"])
    from osgeo import gdal

    ds = gdal.Open(str(new), gdal.GA_Update)
    ds.SetMetadataItem("PROCESSING_BASELINE", "05.09")
    ds = None
    scenes = describe_scenes([str(old), str(new)], "optical")
    check_one_offset(scenes[:1], (1, 2, 3))
    with pytest.raises(UnitsError, match="different radiometric offsets"):
        check_one_offset(scenes, (1, 2, 3))
