"""Tiling and blending: no seams, exact coverage, memory bounded by a strip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.toy_model import build_toy_model, geographic_scene, prepared_reference
from upseg_qgis.core.run.pipeline import RuntimeOptions, TilingOptions, segment
from upseg_qgis.core.run.tiling import (
    StripAccumulator,
    TilingError,
    blend_weight,
    plan_tiles,
    tile_starts,
)


def _read(path: str) -> np.ndarray:
    from osgeo import gdal

    ds = gdal.Open(path)
    return ds.ReadAsArray()


def test_tile_starts_cover_and_end_flush() -> None:
    assert tile_starts(100, 32, 8) == (0, 24, 48, 68)
    assert tile_starts(32, 32, 8) == (0,)
    assert tile_starts(10, 32, 8) == (0,)
    for length in (65, 97, 200, 1001):
        s = tile_starts(length, 64, 16)
        assert s[0] == 0 and s[-1] == length - 64
        assert all(b - a <= 64 - 16 for a, b in zip(s, s[1:], strict=False))


def test_plan_tiles_rounds_and_checks() -> None:
    layout, notes = plan_tiles(100, 70, 30, 4, multiple_of=16)
    assert (layout.tile_h, layout.tile_w) == (32, 32) and notes
    small, _ = plan_tiles(20, 10, 64, 8, multiple_of=16)
    assert (small.tile_h, small.tile_w) == (16, 32) and small.count == 1
    fixed, _ = plan_tiles(20, 10, 64, 8, multiple_of=16, fixed_size=True)
    assert (fixed.tile_h, fixed.tile_w) == (64, 64)
    with pytest.raises(TilingError, match="less than half"):
        plan_tiles(100, 100, 32, 16)


def test_blend_weight_is_smooth_and_positive() -> None:
    w = blend_weight(32, 32, 8)
    assert w.min() > 0 and w.max() == pytest.approx(1.0)
    assert w[16, 16] == pytest.approx(1.0)
    assert np.all(np.diff(w[16, :9]) > 0)  # rises towards the centre
    assert np.array_equal(blend_weight(8, 8, 0), np.ones((8, 8), np.float32))


@pytest.mark.parametrize(("width", "height"), [(100, 70), (37, 131), (64, 64)])
def test_accumulator_reassembles_any_field_exactly(width: int, height: int) -> None:
    """Tiles cut from one field and blended give that field back: no seam, no gap."""
    layout, _ = plan_tiles(width, height, 32, 8, multiple_of=16)
    yy, xx = np.mgrid[0 : layout.ys[-1] + layout.tile_h, 0 : layout.xs[-1] + layout.tile_w]
    field = np.stack([np.sin(xx / 7.0) + yy / 50.0, np.cos(yy / 5.0) * xx / 30.0]).astype(
        np.float32
    )
    acc = StripAccumulator(2, width, height)
    weight = blend_weight(layout.tile_h, layout.tile_w, 8)
    out = np.full((2, height, width), np.nan, np.float32)
    for i, (y, x) in enumerate(layout.tiles()):
        tile = field[:, y : y + layout.tile_h, x : x + layout.tile_w]
        acc.add(tile, weight, np.ones(tile.shape[1:], bool), y, x)
        nxt = layout.tiles()[i + 1][0] if i + 1 < layout.count else height
        popped = acc.pop_until(nxt)
        if popped:
            first, blended, _valid = popped
            out[:, first : first + blended.shape[1]] = blended
    np.testing.assert_allclose(out, field[:, :height, :width], rtol=1e-5, atol=1e-5)


def test_accumulator_memory_does_not_grow_with_height() -> None:
    peaks = []
    for height in (100, 2000):
        layout, _ = plan_tiles(50, height, 32, 8, multiple_of=16)
        acc = StripAccumulator(2, 50, height)
        weight = blend_weight(32, 32, 8)
        tiles = layout.tiles()
        for i, (y, x) in enumerate(tiles):
            acc.add(np.ones((2, 32, 32), np.float32), weight, np.ones((32, 32), bool), y, x)
            acc.pop_until(tiles[i + 1][0] if i + 1 < len(tiles) else height)
        peaks.append(acc.peak_rows)
    assert peaks[0] == peaks[1] <= 32


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("tiling")
    opt, sar = geographic_scene(d, width=100, height=70)
    return opt, sar, build_toy_model(d / "toy.onnx")


@pytest.mark.parametrize(("tile", "overlap", "batch"), [(32, 8, 3), (48, 0, 1), (16, 4, 7)])
def test_tiled_equals_single_pass(
    scene: tuple[Path, Path, Path], tmp_path: Path, tile: int, overlap: int, batch: int
) -> None:
    opt, sar, model = scene
    common = {"model": str(model), "runtime": RuntimeOptions(device="cpu")}
    whole = segment(str(opt), str(sar), str(tmp_path / "whole.tif"),
                    confidence=str(tmp_path / "whole_conf.tif"), **common,
                    tiling=TilingOptions(tile_size=128, overlap=0))
    assert whole.tile_count == 1
    tiled = segment(str(opt), str(sar), str(tmp_path / "tiled.tif"),
                    confidence=str(tmp_path / "tiled_conf.tif"), **common,
                    tiling=TilingOptions(tile_size=tile, overlap=overlap, batch_size=batch))
    assert tiled.tile_count > 4
    np.testing.assert_array_equal(_read(tiled.output), _read(whole.output))
    np.testing.assert_allclose(_read(tiled.confidence), _read(whole.confidence), atol=1e-5)
    # And both equal the model applied in numpy to the whole image.
    cls, conf, _ = prepared_reference(opt, sar)
    np.testing.assert_array_equal(_read(tiled.output), cls)
    np.testing.assert_allclose(_read(tiled.confidence), conf, atol=1e-5)
    assert 0.1 < (cls == 1).mean() < 0.9  # both classes present: the test can fail


@pytest.fixture(scope="module")
def smoothing_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy model with a 5 x 5 receptive field: tile edges see zero padding, not the scene."""
    return build_toy_model(tmp_path_factory.mktemp("smooth") / "smooth.onnx", smooth=5)


def _confidence_error(scene: tuple[Path, Path, Path], model: Path, out: Path,
                      **tiling: int) -> tuple[float, float, int]:
    """(max |confidence - whole-image confidence|, share of classes that differ, tiles)."""
    opt, sar, _ = scene
    cls, conf, _ = prepared_reference(opt, sar, smooth=5)
    r = segment(str(opt), str(sar), str(out), model=str(model),
                confidence=str(out.with_name(out.stem + "_conf.tif")),
                tiling=TilingOptions(**tiling), runtime=RuntimeOptions(device="cpu"))
    return (float(np.abs(_read(r.confidence) - conf).max()),
            float((_read(r.output) != cls).mean()), r.tile_count)


def test_blending_hides_the_seams_of_a_model_with_a_receptive_field(
    scene: tuple[Path, Path, Path], smoothing_model: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tiles of 32 px overlapping by 8, blended, match the model on the whole image; the same
    tiles without overlap or with flat weights show seams. (Measured on this scene: blended
    0.010 max confidence error and no class flipped; unblended 0.21 and 0.12, with 0.5 % of
    the classes flipped. Thresholds sit between.)"""
    whole = _confidence_error(scene, smoothing_model, tmp_path / "whole.tif", tile_size=128,
                              overlap=0)
    assert whole[2] == 1 and whole[0] < 1e-5  # one tile = the model on the whole image
    blended = _confidence_error(scene, smoothing_model, tmp_path / "b.tif", tile_size=32,
                                overlap=8)
    hard = _confidence_error(scene, smoothing_model, tmp_path / "h.tif", tile_size=32,
                             overlap=0)
    from upseg_qgis.core.run import plan

    monkeypatch.setattr(plan, "blend_weight", lambda h, w, o: np.ones((h, w), np.float32))
    flat = _confidence_error(scene, smoothing_model, tmp_path / "f.tif", tile_size=32,
                             overlap=8)
    assert blended[2] > 4 and blended[0] < 0.03 and blended[1] == 0.0
    assert hard[0] > 0.1 and hard[1] > 0
    assert flat[0] > 0.05


def test_pipeline_memory_does_not_grow_with_scene_height(tmp_path: Path) -> None:
    """Peak numpy memory of a 4x taller scene stays about the same (strips, not scenes)."""
    import tracemalloc

    model = build_toy_model(tmp_path / "toy.onnx")
    peaks = []
    for height in (256, 1024):
        d = tmp_path / f"h{height}"
        d.mkdir()
        opt, sar = geographic_scene(d, width=160, height=height)
        tracemalloc.start()
        segment(str(opt), str(sar), str(d / "out.tif"), model=str(model),
                confidence=str(d / "conf.tif"),
                tiling=TilingOptions(tile_size=64, overlap=8, batch_size=2),
                runtime=RuntimeOptions(device="cpu"))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks  # design bound: 4x the rows, at most 1.3x memory
