"""Streaming internals tuned for the benchmark (issue 8): column chunks, pipelined I/O, bounded
accumulator, GDAL cache and output blocks. Correctness and memory bounds only: speed lives in
`make bench`, never in the test suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.toy_model import build_toy_model, geographic_scene, prepared_reference, utm_sar
from upseg_qgis.core.raster.block_assembler import BlockAssembler
from upseg_qgis.core.run import pipeline
from upseg_qgis.core.run.pipeline import Reporter, RuntimeOptions, TilingOptions, segment
from upseg_qgis.core.run.reporting import STAGES
from upseg_qgis.core.run.tiling import (
    RowChunkAccumulator,
    StripAccumulator,
    blend_weight,
    column_groups,
    plan_tiles,
)


def _read(path: str) -> np.ndarray:
    from osgeo import gdal

    return gdal.Open(path).ReadAsArray()


def _field(k: int, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([np.sin(xx / (5.0 + c)) + np.cos(yy / (7.0 + c)) * (c + 1) for c in range(k)])


def _strip_reference(layout, field: np.ndarray, k: int) -> np.ndarray:  # noqa: ANN001
    """Blend with the original StripAccumulator, tile by tile."""
    acc = StripAccumulator(k, layout.width, layout.height)
    weight = blend_weight(layout.tile_h, layout.tile_w, layout.overlap)
    out = np.full((k, layout.height, layout.width), np.nan, np.float32)
    tiles = layout.tiles()
    for i, (y, x) in enumerate(tiles):
        t = field[:, y : y + layout.tile_h, x : x + layout.tile_w]
        acc.add(t, weight, np.ones(t.shape[1:], bool), y, x)
        nxt = tiles[i + 1][0] if i + 1 < len(tiles) else layout.height
        popped = acc.pop_until(nxt)
        if popped:
            first, blended, _ = popped
            out[:, first : first + blended.shape[1]] = blended
    return out


def _chunked(layout, field: np.ndarray, k: int, chunk: int):  # noqa: ANN001, ANN202
    acc = RowChunkAccumulator(k, layout.width, layout.height)
    weight = blend_weight(layout.tile_h, layout.tile_w, layout.overlap)
    out = np.full((k, layout.height, layout.width), np.nan, np.float32)
    seen = np.zeros((layout.height, layout.width), int)
    groups = column_groups(layout, chunk)
    for ri, y in enumerate(layout.ys):
        next_y = layout.ys[ri + 1] if ri + 1 < len(layout.ys) else layout.height
        acc.start_row(y, y + layout.tile_h, next_y)
        for gi, g in enumerate(groups):
            for j in g:
                x = layout.xs[j]
                t = field[:, y : y + layout.tile_h, x : x + layout.tile_w]
                acc.add(t, weight, np.ones(t.shape[1:], bool), y, x)
            release = layout.xs[groups[gi + 1][0]] if gi + 1 < len(groups) else layout.width
            r = acc.release(release)
            if r:
                row, col, blended, valid = r
                out[:, row : row + blended.shape[1], col : col + blended.shape[2]] = blended
                seen[row : row + blended.shape[1], col : col + blended.shape[2]] += 1
                assert valid.all()
        acc.end_row()
    return out, seen, acc


@pytest.mark.parametrize(
    ("width", "height", "tile", "overlap", "chunk"),
    [(100, 70, 32, 8, 40), (37, 131, 32, 8, 32), (300, 290, 64, 16, 100), (64, 64, 64, 8, 10),
     (250, 300, 256, 32, 2048), (500, 300, 256, 32, 256)],
)
def test_row_chunk_accumulator_equals_strip_accumulator(
    width: int, height: int, tile: int, overlap: int, chunk: int
) -> None:
    """Same blend, pixel for pixel, every pixel released exactly once (incl. the last tile row
    and column, which sit flush with the scene's edge and overlap their neighbours more)."""
    layout, _ = plan_tiles(width, height, tile, overlap, multiple_of=16)
    field = _field(3, layout.ys[-1] + layout.tile_h, layout.xs[-1] + layout.tile_w).astype(
        np.float32
    )
    ref = _strip_reference(layout, field, 3)
    out, seen, _ = _chunked(layout, field, 3, chunk)
    assert np.all(seen == 1)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out, field[:, :height, :width], rtol=1e-5, atol=1e-5)


def test_accumulator_memory_does_not_grow_with_width() -> None:
    """The working window is bounded by the chunk width; only the open overlap band (overlap
    rows, K float32 + weight + valid per pixel) spans the scene's width."""
    k, tile, overlap, chunk = 2, 64, 8, 128
    peaks = {}
    for width in (300, 3000):
        layout, _ = plan_tiles(width, 8 * 56 + 8, tile, overlap)  # regular rows: no flush row
        field = np.zeros((k, layout.ys[-1] + tile, layout.xs[-1] + tile), np.float32)
        _, _, acc = _chunked(layout, field, k, chunk)
        band = 2 * (k * 4 + 4 + 1) * acc.peak_carry_rows * width  # open band + the next one
        peaks[width] = (acc.peak_window_bytes, acc.peak_bytes, band, acc.peak_carry_rows)
        assert acc.peak_carry_rows == overlap
        assert acc.peak_bytes <= acc.peak_window_bytes + band
    assert peaks[300][0] == peaks[3000][0], peaks
    # The width-bound band is small next to a whole strip (what StripAccumulator held).
    strip = (k * 4 + 4 + 1) * tile * 3000
    assert peaks[3000][2] < 0.3 * strip


def test_accumulator_refuses_out_of_order_use() -> None:
    acc = RowChunkAccumulator(2, 100, 100)
    ones = np.ones((2, 32, 32), np.float32)
    w, v = np.ones((32, 32), np.float32), np.ones((32, 32), bool)
    acc.start_row(0, 32, 24)
    acc.add(ones, w, v, 0, 0)
    with pytest.raises(AssertionError, match="released before"):
        acc.release(40)  # columns 32..39 have no tile yet
    acc2 = RowChunkAccumulator(2, 100, 100)
    acc2.start_row(0, 32, 24)
    acc2.add(ones, w, v, 0, 24)
    acc2.add(ones, w, v, 0, 0)  # left of the first tile is fine before a release
    acc2.release(24)
    with pytest.raises(ValueError, match="after columns"):
        acc2.add(ones, w, v, 0, 0)
    with pytest.raises(ValueError, match="not released"):
        acc2.end_row()


def test_block_assembler_hands_out_whole_blocks_once() -> None:
    rng = np.random.default_rng(1)
    h, w, b = 300, 530, 64
    img = rng.integers(0, 255, (h, w), dtype=np.uint8)
    conf = rng.random((h, w), dtype=np.float32)
    asm = BlockAssembler(w, h, b, 255, True)
    out = np.zeros_like(img)
    out_conf = np.zeros_like(conf)
    written = np.zeros((h, w), int)
    peak_pending = 0
    # Row bands of 56 rows, column chunks at irregular places: nothing block-aligned.
    for r in range(0, h, 56):
        rh = min(56, h - r)
        for c0, c1 in ((0, 150), (150, 151), (151, 400), (400, w)):
            piece = (img[r : r + rh, c0:c1], conf[r : r + rh, c0:c1])
            for row, col, cls, cf in asm.add(r, c0, *piece):
                bh, bw = cls.shape
                assert row % b == 0 and col % b == 0
                assert bh % b == 0 or row + bh == h
                assert bw % b == 0 or col + bw == w
                out[row : row + bh, col : col + bw] = cls
                out_conf[row : row + bh, col : col + bw] = cf
                written[row : row + bh, col : col + bw] += 1
            peak_pending = max(peak_pending, asm.pending_bytes)
    assert asm.pending_blocks == 0
    assert np.all(written == 1)
    np.testing.assert_array_equal(out, img)
    np.testing.assert_array_equal(out_conf, conf)
    # At most about one row of blocks across the width (plus the band being written) waits.
    assert peak_pending <= 2 * b * (w + b) * 5


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bench_streaming")
    opt, sar = geographic_scene(d, width=230, height=150)
    return {"optical": opt, "sar": sar, "utm": utm_sar(d, opt), "model": build_toy_model(
        d / "toy.onnx")}


@pytest.mark.parametrize(
    ("prefetch", "chunk_width", "batch", "runs"),
    [(True, None, 3, 1), (False, None, 1, 1), (True, 40, 2, 2), (False, 16, 5, 3),
     (True, 100, 64, 1), (True, 24, 1, 2)],
)
def test_pipelined_and_chunked_output_is_unchanged(
    scene: dict[str, Path], tmp_path: Path, prefetch: bool, chunk_width: int | None, batch: int,
    runs: int,
) -> None:
    """Background reader/writer threads, parallel model runs and narrow column chunks change
    nothing: the output is the model applied to the whole image (tiles of 32 px, so many rows
    and chunks)."""
    r = segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "c.tif"),
                model=str(scene["model"]), confidence=str(tmp_path / "p.tif"),
                tiling=TilingOptions(tile_size=32, overlap=8, batch_size=batch,
                                     chunk_width=chunk_width),
                runtime=RuntimeOptions(device="cpu", prefetch=prefetch, parallel_runs=runs))
    assert r.prefetch is prefetch and r.parallel_runs == runs and r.tile_count > 20
    cls, conf, _ = prepared_reference(scene["optical"], scene["sar"])
    np.testing.assert_array_equal(_read(r.output), cls)
    np.testing.assert_allclose(_read(r.confidence), conf, atol=1e-5)
    assert set(r.timings) == set(STAGES)


def test_warped_sar_is_the_same_whatever_the_chunks(scene: dict[str, Path], tmp_path: Path) -> None:
    """The SAR in another CRS is warped window by window; the windows do not show. (GDAL's
    approximate transformer, held to 0.01 px, can move a sample by that much with another
    window, which may flip a pixel sitting exactly on a class boundary.)"""
    common = {"model": str(scene["model"]), "runtime": RuntimeOptions(device="cpu")}
    a = segment(str(scene["optical"]), str(scene["utm"]), str(tmp_path / "a.tif"),
                confidence=str(tmp_path / "ac.tif"), **common,
                tiling=TilingOptions(tile_size=32, overlap=8, chunk_width=4096))
    b = segment(str(scene["optical"]), str(scene["utm"]), str(tmp_path / "b.tif"),
                confidence=str(tmp_path / "bc.tif"), **common,
                tiling=TilingOptions(tile_size=32, overlap=8, chunk_width=24))
    assert a.sar_resampled and b.sar_resampled
    ca, cb = _read(a.output), _read(b.output)
    assert (ca == 255).sum() == (cb == 255).sum()
    # Measured: 0.02 % of the classes differ; confidence median 8.6e-5, max 0.001.
    assert (ca != cb).mean() < 1e-3
    pa, pb = _read(a.confidence), _read(b.confidence)
    assert np.median(np.abs(pa - pb)) < 2e-4 and np.abs(pa - pb).max() < 0.05


def test_reads_are_bounded_by_the_chunk_width(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upseg_qgis.core.raster import reading

    widths: list[int] = []
    orig = reading.StripReader.read_window

    def spy(self, row: int, height: int, col: int, width: int) -> np.ndarray:  # noqa: ANN001
        widths.append(width)
        return orig(self, row, height, col, width)

    monkeypatch.setattr(reading.StripReader, "read_window", spy)
    segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "w.tif"),
            model=str(scene["model"]),
            tiling=TilingOptions(tile_size=32, overlap=8, chunk_width=64),
            runtime=RuntimeOptions(device="cpu"))
    assert widths and max(widths) <= 64 + 32
    assert sum(widths) > 230  # and together they cover the width


def test_gdal_block_cache_stays_small_while_streaming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers drop their blocks once GDAL's cache holds more than INPUT_CACHE_BUDGET and the
    writer flushes whole blocks, so the cache does not fill up with the scene (it would, up to
    GDAL_CACHEMAX)."""
    from osgeo import gdal

    from upseg_qgis.core.run import chunks

    monkeypatch.setattr(chunks, "INPUT_CACHE_BUDGET", 256 * 1024)

    d = tmp_path / "s"
    d.mkdir()
    opt, sar = geographic_scene(d, width=1024, height=768)
    model = build_toy_model(tmp_path / "toy.onnx")
    used: list[int] = []
    segment(str(opt), str(sar), str(d / "out.tif"), model=str(model),
            confidence=str(d / "conf.tif"), tiling=TilingOptions(tile_size=64, overlap=8),
            runtime=RuntimeOptions(device="cpu", prefetch=False),
            report=Reporter(progress=lambda *_: used.append(gdal.GetCacheUsed())))
    scene_bytes = 1024 * 768 * (3 + 4 + 1 + 4)  # inputs + outputs
    # Design bound (not a measurement): GDAL's cache holds well under a quarter of the scene.
    assert used and max(used) < 0.25 * scene_bytes, (max(used), scene_bytes)


def test_sink_errors_reach_the_caller_and_leave_no_output(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in the writer thread stops the run with that error; no file is left."""
    from upseg_qgis.core.raster import writing
    from upseg_qgis.core.raster.gdal_errors import RasterError

    def broken(*_a: object, **_k: object) -> None:
        raise RasterError("disk full (simulated)")

    monkeypatch.setattr(writing.OutputWriter, "write_window", broken)
    out = tmp_path / "x.tif"
    with pytest.raises(RasterError, match="simulated"):
        segment(str(scene["optical"]), str(scene["sar"]), str(out), model=str(scene["model"]),
                tiling=TilingOptions(tile_size=32, overlap=8),
                runtime=RuntimeOptions(device="cpu", prefetch=True))
    assert not pipeline.output_exists(out)


@pytest.mark.parametrize(("prefetch", "runs"), [(True, 2), (False, 3), (True, 1)])
def test_cancel_midway_with_helper_threads(
    scene: dict[str, Path], tmp_path: Path, prefetch: bool, runs: int
) -> None:
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 4

    out = tmp_path / "x.tif"
    with pytest.raises(pipeline.CancelledError):
        segment(str(scene["optical"]), str(scene["sar"]), str(out), model=str(scene["model"]),
                confidence=str(tmp_path / "c.tif"),
                tiling=TilingOptions(tile_size=32, overlap=8, batch_size=2),
                runtime=RuntimeOptions(device="cpu", prefetch=prefetch, parallel_runs=runs),
                report=Reporter(is_cancelled=cancelled))
    assert not pipeline.output_exists(out) and not pipeline.output_exists(tmp_path / "c.tif")


def test_statistics_of_a_large_layer_do_not_decode_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unit detection samples patches of a large layer (a decimated read would decode every
    block); the statistics agree with the decimated read's."""
    from osgeo import gdal

    from tests.toy_model import write_raster
    from upseg_qgis.core.inputs.units import ValueStats
    from upseg_qgis.core.raster import reading, sampling

    rng = np.random.default_rng(3)
    h, w = 1200, 1500
    yy, xx = np.mgrid[0:h, 0:w]
    data = (800 + 600 * np.sin(xx / 90.0) * np.cos(yy / 70.0) + rng.normal(0, 40, (h, w)))
    path = tmp_path / "big.tif"
    write_raster(path, np.stack([data, data * 0.8]).astype(np.uint16))
    tiled = tmp_path / "big_tiled.tif"
    gdal.Translate(str(tiled), str(path), creationOptions=["TILED=YES", "COMPRESS=DEFLATE"])
    ds = reading.open_raster(str(tiled), "optical")
    full = sampling.sample_values(ds, [1, 2], "optical")  # 1.8 Mpx: one decimated read
    monkeypatch.setattr(sampling, "SAMPLE_FULL_READ_PIXELS", 256 * 256)
    reads: list[tuple[int, int]] = []
    orig = reading.read_window

    def spy(ds_, bands, win, role):  # noqa: ANN001, ANN202
        reads.append((win.width, win.height))
        return orig(ds_, bands, win, role)

    monkeypatch.setattr(reading, "read_window", spy)
    patches = sampling.sample_values(ds, [1, 2], "optical")
    assert patches.shape == full.shape == (2, 256, 256)
    assert len(reads) == 64 and set(reads) == {(32, 32)}  # one block decoded per patch
    assert gdal.GetCacheUsed() < 1024 * 1024
    a, b = ValueStats.of(full, "UInt16"), ValueStats.of(patches, "UInt16")
    assert abs(a.p50 - b.p50) < 0.1 * a.p50 and abs(a.p99 - b.p99) < 0.1 * a.p99


def test_cpu_threading_derives_runs_from_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU default found by `make bench`: whole batches in parallel, one run per core up to
    the number of runs ever measured (2); further cores become intra-op threads of each run. An
    explicit thread budget (QGIS's max threads) is split the same way."""
    from upseg_qgis.core.run import defaults
    from upseg_qgis.core.run.defaults import MEASURED_PARALLEL_RUNS, cpu_threading

    assert MEASURED_PARALLEL_RUNS == 2  # bench/results.json sweeps 1 and 2 runs
    for cores, expected in ((1, (1, 1)), (2, (2, 1)), (3, (2, 1)), (8, (2, 4)), (64, (2, 32))):
        monkeypatch.setattr(defaults, "available_cpus", lambda c=cores: c)
        assert cpu_threading(None, None) == expected, cores
    assert cpu_threading(4, None) == (2, 2)
    assert cpu_threading(4, 4) == (4, 1)  # runs set explicitly (the benchmark's sweep)
    assert cpu_threading(1, 3) == (3, 1)
