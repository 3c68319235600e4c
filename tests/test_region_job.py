"""Region jobs in this process: equal to one upseg:segment run over the same mosaic, resumable
after a crash, failures named, nothing partial in the final product.

The embedded default model (a real UPSeg network, receptive field far wider than the tile
overlap) makes the window halos matter: a window that blended without its neighbours' tiles
would differ from the single run along its borders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal

from tests.region_scenes import mosaic, read, real_scenes, region, seg, synthetic_scenes
from tests.toy_model import build_toy_model
from upseg_qgis.core.raster.gdal_errors import RasterError
from upseg_qgis.core.region.manifest import WorkFolder
from upseg_qgis.core.region.run import RegionError
from upseg_qgis.core.region.runner import run_window

REAL = {"tile": 128, "overlap": 16}


@pytest.fixture(scope="module")
def real(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("region_real")
    sc = real_scenes(shared_data, d)
    ref = seg(sc["s2"], sc["s1"], d / "ref.tif", confidence=d / "ref_conf.tif", **REAL)
    return {**sc, "dir": d, "ref": ref}


def _category_info(path: str | Path) -> dict[str, Any]:
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
    try:
        return gdal.Info(str(path), format="json")
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)


def test_real_scenes_equal_one_segment_run_bit_for_bit(real: dict[str, Any],
                                                       tmp_path: Path) -> None:
    out, conf = tmp_path / "region.tif", tmp_path / "region_conf.tif"
    # 200 px windows cut across tiles and scenes alike.
    r = region(real["optical"], real["sar"], str(out), confidence=str(conf),
                       window_size=200, **REAL)
    assert (r.windows, r.ran, r.done_before, r.empty) == (9, 9, 0, 0)
    np.testing.assert_array_equal(read(out), read(real["ref"].output))
    # Classes bit for bit; confidence to 1e-6: the default model's per-tile reductions (tile
    # contrast) round differently in ONNX Runtime for a batch of 1 and of 2 tiles (logits within
    # 1e-6, measured), and windows batch their tiles differently from one run.
    np.testing.assert_allclose(read(conf), read(real["ref"].confidence), rtol=0, atol=1e-6)
    # The same against upseg:segment over a plain gdalbuildvrt mosaic of the same scenes.
    via_vrt = seg(mosaic(real["optical"], tmp_path / "o.vrt"),
                      mosaic(real["sar"], tmp_path / "s.vrt"), str(tmp_path / "vrt.tif"), **REAL)
    np.testing.assert_array_equal(read(out), read(via_vrt.output))
    # Styled as today: colour table and class names inside, the same .qml beside; a COG.
    ref_info, info = _category_info(real["ref"].output), _category_info(out)
    assert info["bands"][0]["categories"] == ref_info["bands"][0]["categories"]
    assert info["bands"][0]["colorTable"] == ref_info["bands"][0]["colorTable"]
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    assert gdal.Open(str(out)).GetGeoTransform() == gdal.Open(real["s2"]).GetGeoTransform()
    assert Path(r.qml).read_text() == Path(real["ref"].qml).read_text()
    assert not WorkFolder(out).path.exists()  # the work folder goes once the COG is in place
    assert sorted(p.name for p in tmp_path.iterdir() if "region" in p.name) == [
        "region.qml", "region.tif", "region.tif.aux.xml", "region_conf.tif"]


def test_synthetic_scenes_in_two_crs_match_one_segment_run(tmp_path: Path) -> None:
    """SYNTHETIC: 3 optical scenes (EPSG:4326) and 2 SAR scenes on a UTM grid of another
    resolution, aligned per window. The classes agree >= 99.99 %, not bit for bit by design:
    GDAL's approximate transformer (error threshold 0.01 px) interpolates the reprojection over
    each warped window, and the windows' warps are cut elsewhere than the single run's, so SAR
    values may differ in the last digits. Measured: classes 100 % equal, confidence within
    6.3e-5 (the bound below leaves room)."""
    sc = synthetic_scenes(tmp_path)
    ref = seg(mosaic(sc["optical"], tmp_path / "o.vrt"), mosaic(sc["sar"], tmp_path / "s.vrt"),
              tmp_path / "ref.tif", confidence=tmp_path / "ref_conf.tif")
    assert ref.sar_resampled
    r = region(sc["optical"], sc["sar"], tmp_path / "region.tif",
               confidence=tmp_path / "region_conf.tif", window_size=100)
    assert r.windows == 12
    a, b = read(ref.output), read(r.output)
    assert (a == b).mean() >= 0.9999
    assert len(np.unique(a)) == 2  # both classes occur: the comparison is not trivial
    np.testing.assert_allclose(read(r.confidence), read(ref.confidence), atol=1e-3)


class _Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing retries it."""


def _counting(calls: list[str], crash_at: int | None = None, fail: set[str] = frozenset(),
              flaky: set[str] = frozenset()) -> Any:
    def run(job: Any, window: Any, threads: Any, is_cancelled: Any = None) -> Any:
        calls.append(window.name)
        if crash_at is not None and len(calls) == crash_at:
            raise _Crash()
        if window.name in fail or (window.name in flaky and calls.count(window.name) == 1):
            raise RuntimeError(f"disk error in {window.name}")
        return run_window(job, window, threads, is_cancelled)

    return run


def test_crash_half_way_then_rerun_does_only_the_missing_windows(real: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "region.tif"
    first: list[str] = []
    with pytest.raises(_Crash):
        region(real["optical"], real["sar"], str(out), window_size=200,
                       run=_counting(first, crash_at=4), **REAL)
    assert not out.exists()
    done = sorted(WorkFolder(out).finished())
    assert done == sorted(first[:3])
    second: list[str] = []
    r = region(real["optical"], real["sar"], str(out), window_size=200,
                       run=_counting(second), **REAL)
    assert sorted(second) == sorted(set(r_.name for r_ in _plan(out, r)) - set(done))
    assert (r.done_before, r.ran) == (3, 6)
    np.testing.assert_array_equal(read(out), read(real["ref"].output))


def _plan(out: Path, r: Any) -> list[Any]:
    from upseg_qgis.core.region.plan import plan_windows
    from upseg_qgis.core.run.tiling import plan_tiles

    layout, _ = plan_tiles(r.width, r.height, 128, 16, 32)
    return plan_windows(layout, 200)


def test_failing_window_is_named_retried_and_nothing_partial(real: dict[str, Any],
                                                             tmp_path: Path) -> None:
    out = tmp_path / "region.tif"
    calls: list[str] = []
    with pytest.raises(RegionError, match=r"r001_c002 \(3 attempt\(s\)\): disk error") as err:
        region(real["optical"], real["sar"], str(out), window_size=200, retries=2,
                       run=_counting(calls, fail={"r001_c002"}, flaky={"r000_c000"}),
                       **REAL)
    assert "1 of 9 window(s) failed" in str(err.value) and "No output was written" in str(err.value)
    assert calls.count("r001_c002") == 3 and calls.count("r000_c000") == 2
    assert not out.exists() and not list(tmp_path.glob("*.partial*"))
    finished = WorkFolder(out).finished()
    assert len(finished) == 8 and finished["r000_c000"].attempts == 2
    again: list[str] = []
    region(real["optical"], real["sar"], str(out), window_size=200,
                   run=_counting(again), **REAL)
    assert again == ["r001_c002"]
    np.testing.assert_array_equal(read(out), read(real["ref"].output))


def test_reruns_refuse_to_mix_jobs_or_overwrite_silently(real: dict[str, Any],
                                                         tmp_path: Path) -> None:
    out = tmp_path / "region.tif"
    with pytest.raises(_Crash):
        region(real["optical"], real["sar"], str(out), window_size=200,
                       run=_counting([], crash_at=2), **REAL)
    with pytest.raises(RasterError, match="holds a job with other inputs or options"):
        region(real["optical"], real["sar"], str(out), window_size=256, **REAL)
    r = region(real["optical"], real["sar"], str(out), window_size=256, overwrite=True,
                       **REAL)
    assert (r.done_before, r.ran) == (0, 4)
    with pytest.raises(RasterError, match="exists"):
        region(real["optical"], real["sar"], str(out), window_size=256, **REAL)


def test_vrt_output_over_the_tiles_with_gaps_without_data(tmp_path: Path) -> None:
    """Two SYNTHETIC optical scenes with a gap: windows in the gap are not computed."""
    sc = synthetic_scenes(tmp_path, width=400, height=100)
    optical = [sc["optical"][0], sc["optical"][2]]  # columns 0-129 and 240-399
    model = str(build_toy_model(tmp_path / "toy.onnx"))
    out = tmp_path / "region.vrt"
    r = region(optical, [sc["whole_sar"]], out, model=model, window_size=50)
    assert r.empty == 2  # the windows over columns 150-199 (2 rows of windows): no optical
    ref = seg(mosaic(optical, tmp_path / "o.vrt"), sc["whole_sar"], tmp_path / "r.tif",
              model=model)
    np.testing.assert_array_equal(read(out), read(ref.output))
    info = _category_info(out)
    assert info["bands"][0]["categories"] == ["not water", "water"]
    assert out.with_suffix(".qml").is_file() and WorkFolder(out).tiles.is_dir()


def test_region_jobs_honour_tta_parallel_runs_and_prefetch(real: dict[str, Any],
                                                          tmp_path: Path) -> None:
    """TTA changes the map, so a region job with it must equal a single run with it (and not
    the run without it); parallel runs and prefetch reach every window's stream."""
    from upseg_qgis.core.region.options import RegionOptions
    from upseg_qgis.core.region.run import segment_region
    from upseg_qgis.core.run.options import RuntimeOptions, TilingOptions
    from upseg_qgis.core.run.pipeline import segment

    rt = RuntimeOptions(device="cpu", tta="flips", parallel_runs=1, prefetch=False)
    tiling = TilingOptions(REAL["tile"], REAL["overlap"])
    ref = segment(real["s2"], real["s1"], str(tmp_path / "ref.tif"), tiling=tiling, runtime=rt)
    r = segment_region(real["optical"], real["sar"], str(tmp_path / "r.tif"), tiling=tiling,
                       runtime=rt, region=RegionOptions(window_size=256, keep_work=True))
    assert (read(r.output) == read(ref.output)).all()
    assert (read(r.output) != read(real["ref"].output)).any()  # flips moved some pixels
    _, job, _ = WorkFolder(Path(r.output)).load()
    assert (job.tta, job.parallel_runs, job.prefetch) == ("flips", 1, False)
