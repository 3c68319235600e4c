"""`segment()`: optical + SAR rasters -> class raster (+ confidence), tiled and streamed.

Ties the core together: the model and its metadata (session), the output grid and the SAR
layer aligned onto it (raster_io), band choice (bands), unit detection (units), tiling and
blending (tiling), the styled output (styling). Callers pass `progress(fraction, message)`,
`is_cancelled()` and message callbacks; no QGIS here. Every failure raises one of CORE_ERRORS
(or CancelledError) and leaves no output file behind.

Streaming: tile rows top to bottom, each in column chunks about DEFAULT_CHUNK_WIDTH pixels wide.
A chunk is read, warped and normalised, its tiles run through the model, blended
(`tiling.RowChunkAccumulator`) and the final pixels written as whole GeoTIFF blocks. Memory
follows the chunk and tile sizes, not the scene; only the open overlap band of the previous
tile row (a few bytes per pixel, `overlap` rows) and partly written output blocks span the
width. With `prefetch` (the default) a reader thread prepares the next chunks and a writer
thread blends and writes, while the calling thread runs the model: GDAL, numpy and ONNX Runtime
release the GIL, so these overlap.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bands import BandSelectionError, select_bands
from .input_check import unlike_training_warning
from .metadata import ClassInfo, MetadataError, ModelMetadata
from .raster_io import (
    CONFIDENCE_NODATA,
    OutputWriter,
    RasterError,
    StripReader,
    aligned_reader,
    band_data_types,
    band_labels,
    check_output_path,
    gdal_cache_used,
    open_raster,
    raster_grid,
    sample_values,
    window_for_extent,
)
from .session import DeviceError, LoadedModel, ModelError, load_model
from .styling import category_names, colour_table, write_qml
from .tiling import (
    RowChunkAccumulator,
    TileLayout,
    TilingError,
    blend_weight,
    column_groups,
    plan_tiles,
)
from .tta import MODES as TTA_MODES
from .tta import runs_per_tile, with_tta
from .units import UnitsError, ValueStats, resolve_units

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]
MessageFn = Callable[[str], None]

DEFAULT_BATCH_SIZE = 4  # tiles per batch on a GPU
# On the CPU (`make bench`, bench/results.json): tiles per batch, and the smallest tile size
# used when TILE_SIZE is not set (None: the model's tiling.tile_size). Larger tiles re-compute
# a smaller share of overlap; UPSeg models are fully convolutional, so the tile size changes
# only how much context a pixel near a tile edge sees.
DEFAULT_CPU_BATCH_SIZE = 2
DEFAULT_CPU_TILE_SIZE: int | None = None
# Columns read, warped and blended at a time: memory follows this, not the scene's width.
DEFAULT_CHUNK_WIDTH = 2048
# Pipelined I/O: read, warp and normalise ahead in a reader thread, blend and write behind in a
# writer thread, while the model runs in the calling thread.
DEFAULT_PREFETCH = True
PREFETCH_DEPTH = 2  # chunks prepared ahead
SINK_DEPTH = 4  # batches of logits waiting to be blended and written
# ONNX Runtime runs at once on the CPU, each in its own thread with one intra-op thread:
# whole batches in parallel beat one batch split across intra-op threads (`make bench` on 2
# cores: 8.5 vs 4.6 Mpx/s raw, and the fastest end to end). None: one run per CPU thread
# allowed (`threads`, else every available core), at most MAX_PARALLEL_RUNS.
DEFAULT_PARALLEL_RUNS: int | None = None
MAX_PARALLEL_RUNS = 8  # measured only up to 2; more runs also mean more model memory
# Input blocks may stay in GDAL's block cache up to this much (neighbouring chunks and tile
# rows share blocks: dropping them after every chunk would decode them again); beyond it the
# readers drop theirs, so GDAL's memory does not grow with the scene.
INPUT_CACHE_BUDGET = 96 * 2**20
STAGES = ("load", "read", "warp", "normalise", "inference", "blend", "write")


class CancelledError(RuntimeError):
    """The caller cancelled; the partial output has been removed."""


# What segment() raises for bad input, besides CancelledError; each message says what to do.
CORE_ERRORS: tuple[type[Exception], ...] = (
    MetadataError,
    RasterError,
    BandSelectionError,
    UnitsError,
    TilingError,
    ModelError,
    DeviceError,
)


@dataclass
class SegmentResult:
    output: str
    confidence: str | None
    qml: str
    provider: str  # the execution provider that actually ran
    providers: list[str]
    tile_count: int
    batch_count: int
    tile_size: tuple[int, int]
    overlap: int
    batch_size: int
    width: int
    height: int
    geotransform: tuple[float, ...] | None
    crs_wkt: str
    optical_bands: tuple[int, ...]
    sar_bands: tuple[int, ...]
    optical_units: str
    sar_units: str
    sar_resampled: bool
    valid_fraction: float
    seconds: float
    classes: tuple[ClassInfo, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # With prefetch, read/warp/normalise run in a reader thread alongside inference, so the
    # stage times add up to more than `seconds`; `input_wait` is how long the model waited.
    prefetch: bool = False
    input_wait: float = 0.0
    threads: int | None = None  # ONNX Runtime intra-op threads (None: its default)
    parallel_runs: int = 1  # ONNX Runtime runs at once

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)

    def summary(self) -> list[str]:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items())
        lines = [
            f"Execution provider: {self.provider}",
            f"Tiles: {self.tile_count} of {self.tile_size[0]}x{self.tile_size[1]} px, overlap "
            f"{self.overlap}, {self.batch_count} batch(es) of up to {self.batch_size}",
            f"Output: {self.width}x{self.height} px, {self.valid_fraction:.1%} with data",
            f"Time: {self.seconds:.2f} s, {self.megapixels_per_second:.3f} Mpx/s ({stages})",
        ]
        if self.parallel_runs > 1 or self.threads:
            lines.append(
                f"ONNX Runtime: {self.parallel_runs} run(s) at once, "
                f"{self.threads or 'default'} intra-op thread(s) each"
            )
        if self.prefetch:
            lines.append(
                "Reading, warping and normalising (and blending, writing) ran in background "
                f"threads alongside inference; the model waited {self.input_wait:.2f} s for input."
            )
        return lines

    def timing_record(self) -> dict[str, object]:
        """What a benchmark needs, JSON-ready."""
        return {
            "seconds": round(self.seconds, 4),
            "megapixels": round(self.width * self.height / 1e6, 4),
            "megapixels_per_second": round(self.megapixels_per_second, 4),
            "tile_count": self.tile_count,
            "tile_size": list(self.tile_size),
            "overlap": self.overlap,
            "batch_size": self.batch_size,
            "provider": self.provider,
            "threads": self.threads,
            "parallel_runs": self.parallel_runs,
            "prefetch": self.prefetch,
            "input_wait": round(self.input_wait, 4),
            "timings": dict(self.timings),
        }


class _Clock:
    """Seconds per stage. `lap` charges the time since the last lap; `add` charges a measured
    span (used by the reader thread, whose time overlaps the main thread's)."""

    def __init__(self) -> None:
        self.totals = {s: 0.0 for s in STAGES}
        self._t = time.perf_counter()
        self._lock = threading.Lock()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.add(stage, now - self._t)
        self._t = now

    def restart(self) -> None:
        self._t = time.perf_counter()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.totals[stage] = self.totals.get(stage, 0.0) + seconds


def _noop(*_args: object) -> None:
    return None


def _title(role: str) -> str:
    return role[:1].upper() + role[1:]


@dataclass
class _Chunk:
    """One column chunk of one tile row, read, normalised and cut into tiles."""

    y: int
    next_y: int  # rows above this are final once the tile row is done
    xs: tuple[int, ...]  # tile columns
    release_x: int  # columns left of this are final once these tiles are in
    first_in_row: bool
    last_in_row: bool
    optical: np.ndarray  # [n, C_opt, th, tw] float32, missing pixels and padding as 0
    sar: np.ndarray  # [n, C_sar, th, tw]
    valid: np.ndarray  # [n, th, tw] bool


class _ChunkSource:
    """Chunks in processing order: tile rows top to bottom, column chunks left to right."""

    def __init__(
        self,
        layout: TileLayout,
        groups: tuple[tuple[int, ...], ...],
        opt_reader: StripReader,
        sar_reader: StripReader,
        meta: ModelMetadata,
        opt_units: str,
        sar_units: str,
        clock: _Clock,
    ) -> None:
        self.layout = layout
        self.groups = groups
        self.readers = (opt_reader, sar_reader)
        self.specs = (meta.optical, meta.sar)
        self.units = (opt_units, sar_units)
        self.clock = clock

    def __iter__(self) -> Iterator[_Chunk]:
        lay = self.layout
        th, tw = lay.tile_h, lay.tile_w
        for ri, y in enumerate(lay.ys):
            h = min(th, lay.height - y)
            next_y = lay.ys[ri + 1] if ri + 1 < len(lay.ys) else lay.height
            for gi, group in enumerate(self.groups):
                yield self._chunk(y, h, next_y, group, gi, th, tw)

    def _chunk(
        self, y: int, h: int, next_y: int, group: tuple[int, ...], gi: int, th: int, tw: int
    ) -> _Chunk:
        lay = self.layout
        xs = tuple(lay.xs[j] for j in group)
        x0, x1 = xs[0], min(xs[-1] + tw, lay.width)
        last = gi + 1 == len(self.groups)
        release_x = lay.width if last else lay.xs[self.groups[gi + 1][0]]
        prepared = []
        valid = None
        for reader, spec, units in zip(self.readers, self.specs, self.units, strict=True):
            t = time.perf_counter()
            raw = reader.read_window(y, h, x0, x1 - x0)
            if gdal_cache_used() > INPUT_CACHE_BUDGET:
                for r in self.readers:
                    r.release_cache()
            self.clock.add("warp" if reader.warped else "read", time.perf_counter() - t)
            t = time.perf_counter()
            arr = spec.prepare(raw, units)
            finite = np.isfinite(arr)
            ok = finite.all(axis=0)
            valid = ok if valid is None else valid & ok
            # Missing pixels (and, below, padding) enter the model as 0, the training mean.
            np.putmask(arr, ~finite, 0.0)
            prepared.append(arr)
            self.clock.add("normalise", time.perf_counter() - t)
        t = time.perf_counter()
        assert valid is not None
        tiles = []
        for arr in prepared:
            out = np.zeros((len(xs), arr.shape[0], th, tw), dtype=np.float32)
            for i, x in enumerate(xs):
                w = min(tw, x1 - x)
                out[i, :, :h, :w] = arr[:, :, x - x0 : x - x0 + w]
            tiles.append(out)
        valid_t = np.zeros((len(xs), th, tw), dtype=bool)
        for i, x in enumerate(xs):
            w = min(tw, x1 - x)
            valid_t[i, :h, :w] = valid[:, x - x0 : x - x0 + w]
        self.clock.add("normalise", time.perf_counter() - t)
        return _Chunk(
            y=y,
            next_y=next_y,
            xs=xs,
            release_x=release_x,
            first_in_row=gi == 0,
            last_in_row=last,
            optical=tiles[0],
            sar=tiles[1],
            valid=valid_t,
        )


_DONE = object()


@dataclass
class _Failure:
    exc: BaseException


class _Sink:
    """Runs submitted calls in order in one background thread (blending and writing while the
    model runs on the next batch); at most `depth` calls wait. The first error is re-raised in
    the submitting thread at its next `submit` or at `finish`."""

    def __init__(self, depth: int) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="upseg-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is not None:
                continue  # after a failure, drop the rest (the submitter stops soon)
            fn, args = item  # type: ignore[misc]
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the submitter
                self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, fn: Callable[..., None], *args: object) -> None:
        self._check()
        while True:
            try:
                self._queue.put((fn, args), timeout=0.1)
                break
            except queue.Full:
                self._check()
                if not self._thread.is_alive():
                    raise RuntimeError("the UPSeg writer thread stopped") from None

    def finish(self) -> None:
        """Wait until everything submitted has run; re-raise its error."""
        self._queue.put(_DONE)
        self._thread.join()
        self._check()

    def close(self) -> None:
        """Stop (dropping what has not run yet) and wait for the thread."""
        if self._thread.is_alive():
            if self._error is None:
                self._error = CancelledError("stopped")
            self._queue.put(_DONE)  # the thread skips the rest quickly, so this cannot hang
            self._thread.join()


class _Prefetcher:
    """Runs an iterator in a background thread, `depth` items ahead; errors are re-raised in
    the consumer. GDAL and ONNX Runtime release the GIL, so reading overlaps inference."""

    def __init__(self, items: Iterator[_Chunk], depth: int) -> None:
        self._items = items
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upseg-reader", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(exc))

    def __iter__(self) -> Iterator[_Chunk]:
        return self

    def __next__(self) -> _Chunk:
        item = self._queue.get()
        if item is _DONE:
            self._queue.put(_DONE)  # later calls stop too
            raise StopIteration
        if isinstance(item, _Failure):
            raise item.exc
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def cpu_threading(threads: int | None, parallel_runs: int | None) -> tuple[int, int]:
    """(ONNX Runtime runs at once, intra-op threads per run) on the CPU for a budget of
    `threads` CPU threads (None: every available core)."""
    total = max(1, int(threads or available_cpus()))
    runs = parallel_runs if parallel_runs is not None else DEFAULT_PARALLEL_RUNS
    runs = max(1, int(runs if runs is not None else min(total, MAX_PARALLEL_RUNS)))
    return runs, max(1, total // runs)


def default_batch_size(provider: str) -> int:
    return DEFAULT_CPU_BATCH_SIZE if provider == "CPUExecutionProvider" else DEFAULT_BATCH_SIZE


def default_tile_size(model_tile: int, provider: str) -> int:
    """The tile size when TILE_SIZE is not set: the model's, or larger on the CPU."""
    if provider == "CPUExecutionProvider" and DEFAULT_CPU_TILE_SIZE:
        return max(model_tile, DEFAULT_CPU_TILE_SIZE)
    return model_tile


def _stop_helpers(
    feed: object, pool: ThreadPoolExecutor | None, sink: _Sink | None
) -> None:
    if isinstance(feed, _Prefetcher):
        feed.close()
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
    if sink is not None:
        sink.close()


def segment(
    optical: str,
    sar: str,
    output: str,
    *,
    model: str | None = None,
    optical_bands: Sequence[int] | None = None,
    sar_bands: Sequence[int] | None = None,
    optical_units: str = "auto",
    sar_units: str = "auto",
    extent: tuple[float, float, float, float] | None = None,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    strict_device: bool = False,
    threads: int | None = None,
    confidence: str | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    info: MessageFn | None = None,
    warn: MessageFn | None = None,
    loaded_model: LoadedModel | None = None,
    prefetch: bool | None = None,
    chunk_width: int | None = None,
    parallel_runs: int | None = None,
    tta: str = "none",
) -> SegmentResult:
    """Segment `optical` + `sar` (GDAL raster paths) into `output` (a GeoTIFF).

    extent: (xmin, ymin, xmax, ymax) in the optical layer's CRS; None = the whole layer.
    tile_size, overlap: None = the model's metadata (tiling.*; see `default_tile_size`).
    batch_size: None = the model's tiling.batch_size if any, else `default_batch_size`.
    device: auto, cuda, tensorrt or cpu; strict_device: DeviceError instead of CPU fallback.
    threads: CPU threads for the model (None: every available core); see `cpu_threading`.
    confidence: optional GeoTIFF path for the max class probability (float32).
    loaded_model: an already opened model (skips `model`, `device`, `threads`).
    prefetch: pipelined I/O, reading ahead and blending/writing behind the model in two
        background threads (None: DEFAULT_PREFETCH).
    chunk_width: columns processed at a time (None: DEFAULT_CHUNK_WIDTH); memory follows it.
    tta: test-time augmentation, "none" or "flips" (core/tta.py: 4 model runs per tile).
    parallel_runs: batches in the model at once, each ONNX Runtime run in its own thread with
        threads / parallel_runs intra-op threads (None: one run per thread; CPU only).
    """
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
    progress = progress or _noop
    is_cancelled = is_cancelled or (lambda: False)
    info = info or _noop
    warnings: list[str] = []

    def warning(msg: str) -> None:
        warnings.append(msg)
        (warn or _noop)(msg)

    start = time.perf_counter()
    clock = _Clock()
    out_path = check_output_path(output, (optical, sar), "OUTPUT")
    conf_path = None
    if confidence:
        conf_path = check_output_path(confidence, (optical, sar, output), "OUTPUT_CONFIDENCE")

    # The model first: its metadata decides bands, units and tiling.
    use_prefetch = DEFAULT_PREFETCH if prefetch is None else bool(prefetch)
    cpu_runs, intra_threads = cpu_threading(threads, parallel_runs)
    lm = loaded_model or load_model(model, device, strict_device, intra_threads)
    meta = lm.metadata
    for w in lm.warnings:
        warning(w)
    info(f"Model: {meta.name} {meta.version} ({meta.variant}) from {lm.path}")
    info(f"Execution provider: {lm.provider} (requested {', '.join(lm.requested)})")
    clock.lap("load")

    opt_ds = open_raster(optical, "optical")
    sar_ds = open_raster(sar, "SAR")
    opt_grid = raster_grid(opt_ds, "optical")
    window = window_for_extent(opt_grid, extent)
    grid = opt_grid.window(window)
    width, height = grid.width, grid.height

    selections = {}
    for role, ds, spec, req, param in (
        ("optical", opt_ds, meta.optical, optical_bands, "OPTICAL_BANDS"),
        ("SAR", sar_ds, meta.sar, sar_bands, "SAR_BANDS"),
    ):
        labels = band_labels(ds)
        sel = select_bands(labels, spec, req, role, param)
        for w in sel.warnings:
            warning(w)
        info(sel.describe(_title(role), labels))
        selections[role] = sel
    opt_sel, sar_sel = selections["optical"], selections["SAR"]

    units = {}
    for role, ds, spec, sel, req, param in (
        ("optical", opt_ds, meta.optical, opt_sel, optical_units, "OPTICAL_UNITS"),
        ("SAR", sar_ds, meta.sar, sar_sel, sar_units, "SAR_UNITS"),
    ):
        sample = sample_values(ds, sel.bands, role)
        stats = ValueStats.of(sample, band_data_types(ds, sel.bands)[0])
        u, how, notes = resolve_units(req, spec, stats, role, param)
        for w in notes:
            warning(w)
        conv = spec.conversion_for(u)
        if u == spec.units:
            how_model = "the model's own units"
        else:
            how_model = f"converted to the model's {spec.units}" + (
                f": {conv.description}" if conv.description else ""
            )
        info(f"{_title(role)} units: {u} ({how}); {how_model}")
        unlike = unlike_training_warning(spec, sample, u, role, param)
        if unlike:
            warning(unlike)
        units[role] = u
    clock.lap("read")

    opt_reader = StripReader(opt_ds, opt_sel.bands, window, "optical")
    sar_reader = aligned_reader(sar_ds, sar_sel.bands, grid, "SAR", opt_grid, window)
    if sar_reader.warped:
        info("The SAR layer is resampled onto the optical grid on the fly, window by window.")

    fixed = lm.static_hw
    if fixed and fixed[0] != fixed[1]:
        raise ModelError(f"The model has a fixed non-square input size {fixed}; re-export it.")
    tiling_raw = meta.raw.get("tiling", {}) if isinstance(meta.raw, dict) else {}
    tile = fixed[0] if fixed else int(tile_size or default_tile_size(meta.tile_size, lm.provider))
    if fixed and tile_size and tile_size != fixed[0]:
        warning(f"The model only takes {fixed[0]}x{fixed[1]} tiles; TILE_SIZE is ignored.")
    ovl = int(meta.overlap if overlap is None else overlap)
    batch = int(batch_size or tiling_raw.get("batch_size") or default_batch_size(lm.provider))
    if batch < 1:
        raise TilingError(f"BATCH_SIZE must be at least 1, got {batch}.")
    layout, notes = plan_tiles(width, height, tile, ovl, meta.multiple_of, bool(fixed))
    for n in notes:
        info(n)
    th, tw = layout.tile_h, layout.tile_w
    weight = blend_weight(th, tw, layout.overlap)
    n_batches = -(-layout.count // batch)
    info(
        f"{width}x{height} px in {layout.count} tile(s) of {th}x{tw} px, overlap "
        f"{layout.overlap}, {n_batches} batch(es) of up to {batch}"
    )

    values = np.array([c.value for c in meta.classes], dtype=np.uint8)
    temperature = np.float32(meta.temperature)
    run_model = with_tta(lm.run, tta)
    if tta != "none":
        info(f"Test-time augmentation: {tta} ({runs_per_tile(tta)} model runs per tile, logits "
             "averaged)")
    chunks = column_groups(layout, chunk_width or DEFAULT_CHUNK_WIDTH)
    source = _ChunkSource(
        layout, chunks, opt_reader, sar_reader, meta, units["optical"], units["SAR"], clock
    )
    acc = RowChunkAccumulator(meta.num_classes, width, height)
    done = 0
    batches_done = 0
    valid_pixels = 0
    input_wait = 0.0
    clock.lap("read")

    writer = OutputWriter(
        out_path,
        grid,
        meta.nodata_value,
        colour_table(meta.classes),
        category_names(meta.classes),
        conf_path,
    )
    clock.lap("write")

    def emit(region: tuple[int, int, np.ndarray, np.ndarray] | None) -> None:
        nonlocal valid_pixels
        if region is None:
            return
        t = time.perf_counter()
        row, col, blended, valid = region
        classes = values[np.argmax(blended, axis=0)]
        classes[~valid] = meta.nodata_value
        conf = None
        if conf_path is not None:
            # Max softmax probability = 1 / sum(exp(logit - max logit)).
            top = blended.max(axis=0)
            # Calibrated: softmax(logits / T) with the model's fitted temperature (1 if none).
            conf = (1.0 / np.exp((blended - top[np.newaxis]) / temperature).sum(axis=0)).astype(
                np.float32)
            conf[~valid] = CONFIDENCE_NODATA
        valid_pixels += int(valid.sum())
        t2 = time.perf_counter()
        clock.add("blend", t2 - t)
        writer.write_window(row, col, classes, conf)
        clock.add("write", time.perf_counter() - t2)

    def blend(items: list[tuple[_Chunk, int]], logits: np.ndarray) -> None:
        """Logits into the accumulator; final regions out to the writer (in the sink thread
        when pipelined)."""
        t = time.perf_counter()
        for (chunk, i), lg in zip(items, logits, strict=True):
            if i == 0:
                if chunk.first_in_row:
                    acc.start_row(chunk.y, chunk.y + th, chunk.next_y)
                acc.reserve(chunk.xs[-1] + tw)
            acc.add(lg, weight, chunk.valid[i], chunk.y, chunk.xs[i])
            if i == len(chunk.xs) - 1:
                clock.add("blend", time.perf_counter() - t)
                # Classes alone need only the argmax of the weighted sums.
                emit(acc.release(chunk.release_x, divide=conf_path is not None))
                t = time.perf_counter()
                if chunk.last_in_row:
                    acc.end_row()
        clock.add("blend", time.perf_counter() - t)

    sink = _Sink(SINK_DEPTH) if use_prefetch else None
    n_runs = cpu_runs
    if lm.provider != "CPUExecutionProvider":
        n_runs = 1  # one device: batches queue up on it anyway
    pool = ThreadPoolExecutor(n_runs, thread_name_prefix="upseg-model") if n_runs > 1 else None
    in_flight: deque[tuple[list[tuple[_Chunk, int]], Future[np.ndarray]]] = deque()

    def infer(opt_b: np.ndarray, sar_b: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        logits = run_model(opt_b, sar_b)
        clock.add("inference", time.perf_counter() - t)
        return logits

    def finish_batch(items: list[tuple[_Chunk, int]], logits: np.ndarray) -> None:
        nonlocal done, batches_done
        if logits.shape != (len(items), meta.num_classes, th, tw):
            raise ModelError(
                f"The model returned logits of shape {logits.shape}, expected "
                f"{(len(items), meta.num_classes, th, tw)}. Re-export the model."
            )
        if sink is not None:
            sink.submit(blend, items, logits)
        else:
            blend(items, logits)
        done += len(items)
        batches_done += 1
        progress(done / layout.count, f"Tile batch {batches_done}/{n_batches}")
        if is_cancelled():
            raise CancelledError(
                f"Cancelled after {done} of {layout.count} tiles; the partial output "
                "was removed."
            )

    def run_batch(items: list[tuple[_Chunk, int]]) -> None:
        t = time.perf_counter()
        first, last = items[0], items[-1]
        if first[0] is last[0]:
            opt_b = first[0].optical[first[1] : last[1] + 1]
            sar_b = first[0].sar[first[1] : last[1] + 1]
        else:
            opt_b = np.stack([c.optical[i] for c, i in items])
            sar_b = np.stack([c.sar[i] for c, i in items])
        clock.add("normalise", time.perf_counter() - t)
        if pool is None:
            finish_batch(items, infer(opt_b, sar_b))
            return
        # Several batches in the model at once (one ONNX Runtime run per thread); results are
        # blended in submission order.
        in_flight.append((items, pool.submit(infer, opt_b, sar_b)))
        while len(in_flight) >= n_runs:
            done_items, fut = in_flight.popleft()
            finish_batch(done_items, fut.result())

    feed: _Prefetcher | Iterator[_Chunk]
    feed = _Prefetcher(iter(source), PREFETCH_DEPTH) if use_prefetch else iter(source)
    clock.lap("read")
    try:
        if is_cancelled():
            raise CancelledError("Cancelled before the first tile.")
        pending: deque[tuple[_Chunk, int]] = deque()
        while True:
            t0 = time.perf_counter()
            chunk = next(feed, None)
            if use_prefetch:
                input_wait += time.perf_counter() - t0
            if chunk is None:
                break
            pending.extend((chunk, i) for i in range(len(chunk.xs)))
            while len(pending) >= batch:
                run_batch([pending.popleft() for _ in range(batch)])
        while pending:
            run_batch([pending.popleft() for _ in range(min(batch, len(pending)))])
        while in_flight:
            done_items, fut = in_flight.popleft()
            finish_batch(done_items, fut.result())
        if sink is not None:
            sink.finish()
        t0 = time.perf_counter()
        writer.commit()
        clock.add("write", time.perf_counter() - t0)
    except BaseException:
        # Stop the helper threads before abort(): they may still use the inputs and output.
        _stop_helpers(feed, pool, sink)
        writer.abort()
        raise
    finally:
        _stop_helpers(feed, pool, sink)
        opt_reader.close()
        sar_reader.close()
    clock.restart()
    qml = write_qml(out_path, meta.classes)
    clock.lap("write")

    valid_fraction = valid_pixels / float(width * height)
    if valid_pixels == 0:
        warning(
            "No pixel has data in both layers: the output is all nodata. Check the layers' "
            "nodata values and that they cover the same area."
        )
    result = SegmentResult(
        output=str(out_path),
        confidence=str(conf_path) if conf_path else None,
        qml=str(qml),
        provider=lm.provider,
        providers=list(lm.providers),
        tile_count=layout.count,
        batch_count=batches_done,
        tile_size=(th, tw),
        overlap=layout.overlap,
        batch_size=batch,
        width=width,
        height=height,
        geotransform=grid.geotransform,
        crs_wkt=grid.crs_wkt,
        optical_bands=opt_sel.bands,
        sar_bands=sar_sel.bands,
        optical_units=units["optical"],
        sar_units=units["SAR"],
        sar_resampled=sar_reader.warped,
        valid_fraction=valid_fraction,
        seconds=time.perf_counter() - start,
        classes=meta.classes,
        timings={k: round(clock.totals[k], 4) for k in STAGES},
        warnings=warnings,
        prefetch=use_prefetch,
        input_wait=round(input_wait, 4),
        threads=lm.threads,
        parallel_runs=n_runs,
    )
    for line in result.summary():
        info(line)
    return result


def output_exists(path: str | Path) -> bool:
    """True when `path` or any partial file of it is on disk (tests use this)."""
    p = Path(path)
    return p.exists() or any(p.parent.glob(f"{p.stem}.*.partial.tif*"))
