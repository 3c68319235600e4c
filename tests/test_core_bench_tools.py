"""The benchmark's own pieces (bench/): the strip-by-strip SYNTHETIC scene generator and the
parsing of the algorithm's timing log. No timing is asserted here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.runs import parse_log
from bench.synthetic_scene import SceneSpec, ground_classes, write_scene
from tests.toy_model import build_toy_model
from upseg_qgis.core.run.pipeline import InputOptions, RuntimeOptions, TilingOptions, segment


def test_synthetic_scene_is_georeferenced_synthetic_and_consistent(tmp_path: Path) -> None:
    from osgeo import gdal, osr

    spec = SceneSpec(300, 200)
    paths = write_scene(tmp_path, "t", spec)
    opt, sar = gdal.Open(str(paths["optical"])), gdal.Open(str(paths["sar"]))
    assert (opt.RasterXSize, opt.RasterYSize, opt.RasterCount) == (300, 200, 4)
    assert opt.GetMetadataItem("SYNTHETIC") == "YES" and sar.GetMetadataItem("SYNTHETIC") == "YES"
    assert "synthetic" in paths["optical"].name and "synthetic" in paths["sar"].name
    srs = osr.SpatialReference(wkt=sar.GetProjection())
    assert srs.IsGeographic() and sar.GetGeoTransform()[1] != opt.GetGeoTransform()[1]
    # Water is dark in the SAR and where the ground truth says so, in both layers.
    o = opt.ReadAsArray().astype(np.float32)
    gt = opt.GetGeoTransform()
    xx, yy = np.meshgrid(gt[0] + (np.arange(300) + 0.5) * gt[1],
                         gt[3] + (np.arange(200) + 0.5) * gt[5])
    water = ground_classes(xx, yy) == 4
    assert 0.02 < water.mean() < 0.6
    assert o[3][water].mean() < 0.3 * o[3][~water].mean()  # NIR
    s = sar.ReadAsArray()
    assert np.median(s[s > -9000]) < -5
    # Reused when asked again with the same spec, rewritten for another one.
    mtime = paths["optical"].stat().st_mtime_ns
    assert write_scene(tmp_path, "t", spec)["optical"].stat().st_mtime_ns == mtime


def test_generation_works_strip_by_strip(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """No array taller than one strip is ever built (so 330 Mpx scenes need little RAM)."""
    import bench.synthetic_scene as ss

    heights: list[int] = []
    orig = ss.ground_classes

    def spy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        heights.append(x.shape[0])
        return orig(x, y)

    monkeypatch.setattr(ss, "ground_classes", spy)
    ss.write_scene(tmp_path, "s", SceneSpec(100, 700), reuse=False)
    assert heights and max(heights) <= ss.STRIP


def test_parse_log_reads_the_algorithm_summary(tmp_path: Path) -> None:
    """The benchmark parses what `segment` prints; this keeps both in step."""
    spec = SceneSpec(200, 150)
    paths = write_scene(tmp_path, "p", spec)
    model = build_toy_model(tmp_path / "toy.onnx")
    r = segment(str(paths["optical"]), str(paths["sar"]), str(tmp_path / "o.tif"),
                model=str(model), inputs=InputOptions(optical_bands=[3, 2, 1]),
                tiling=TilingOptions(tile_size=64, overlap=8),
                runtime=RuntimeOptions(device="cpu", prefetch=True))
    rec = parse_log("\n".join(r.summary()))
    assert set(rec["timings"]) == set(r.timings)
    assert rec["tile_count"] == r.tile_count and rec["batch_size"] == r.batch_size
    assert rec["prefetch"] is True and rec["input_wait"] is not None
    assert rec["algorithm_seconds"] > 0 and rec["provider"] == r.provider


def test_cost_table_judges_the_galileo_goal_from_its_numbers() -> None:
    """The cost page states issue 20's int8 goal as met or not from the measured row, and shows
    the pipeline's overhead where it was measured (n/a for older rows)."""
    from bench.cost_table import write_doc

    def row(model: str, int8: float, overhead: float | None) -> dict:
        fp32 = {"s_per_mpx": 2 * int8, "megapixels": 0.25}
        if overhead is not None:
            fp32.update(tile_size=[128, 128], raw_seconds=0.1, overhead=overhead)
        return {"model": model, "encoder": "x", "params": 1e6, "gmacs_256": 1.0, "fp32_mib": 1.0,
                "int8_mib": 0.5, "int8_agreement": 1.0, "fp32": fp32,
                "int8": {"s_per_mpx": int8, "overhead": 0.5}}

    info = {"date": "d", "machine": "m", "cpus": 2, "load_before": 0, "load_after": 0,
            "torch": "t", "onnxruntime": "o", "repeats": 1}
    text = write_doc([row("upseg_tiny", 1.0, None), row("upseg_galileo_nano", 6.0, 0.25)], info)
    assert "measured 6.00: not met" in text
    assert "| 128x128 | 0.40 | 25 % | 50 % |" in text and "| 256 | n/a | n/a | n/a |" in text
    assert "measured 4.00: met" in write_doc([row("upseg_galileo_nano", 4.0, 0.1)], info)
