"""Defaults of `segment()` that the user does not set, and why (no numpy, GDAL or ONNX Runtime
here: the Toolbox help text quotes these numbers, so it cannot drift from the code)."""

from __future__ import annotations

import os

CPU = "CPUExecutionProvider"
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
# ONNX Runtime runs at once on the CPU, each in its own thread: whole batches in parallel beat
# one batch split across intra-op threads (`make bench` on 2 cores: 8.5 vs 4.6 Mpx/s raw, and
# the fastest end to end). Only 1 and 2 runs at once were ever measured, and every run holds
# its own activations, so the default is at most MEASURED_PARALLEL_RUNS runs; further cores
# become intra-op threads of each run.
MEASURED_PARALLEL_RUNS = 2
# Input blocks may stay in GDAL's block cache up to this much (neighbouring chunks and tile
# rows share blocks: dropping them after every chunk would decode them again); beyond it the
# readers drop theirs, so GDAL's memory does not grow with the scene.
INPUT_CACHE_BUDGET = 96 * 2**20
# How often waiting threads look at the cancel flag: cancelling returns within about this
# (plus one model batch on the CPU, which is not interrupted).
POLL_SECONDS = 0.1


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def cpu_threading(threads: int | None, parallel_runs: int | None) -> tuple[int, int]:
    """(ONNX Runtime runs at once, intra-op threads per run) on the CPU for a budget of
    `threads` CPU threads (None: every available core)."""
    total = max(1, int(threads or available_cpus()))
    runs = parallel_runs if parallel_runs else min(total, MEASURED_PARALLEL_RUNS)
    runs = max(1, int(runs))
    return runs, max(1, total // runs)


def default_batch_size(provider: str) -> int:
    return DEFAULT_CPU_BATCH_SIZE if provider == CPU else DEFAULT_BATCH_SIZE


def default_tile_size(model_tile: int, provider: str) -> int:
    """The tile size when TILE_SIZE is not set: the model's, or larger on the CPU."""
    if provider == CPU and DEFAULT_CPU_TILE_SIZE:
        return max(model_tile, DEFAULT_CPU_TILE_SIZE)
    return model_tile


def prefetch_or_default(prefetch: bool | None) -> bool:
    """RuntimeOptions.prefetch (None: DEFAULT_PREFETCH), for single runs and region windows."""
    return DEFAULT_PREFETCH if prefetch is None else bool(prefetch)
