"""`run_window(job, window) -> WindowRecord`: one window through the single-scene stages.

The window's halo (the global tiles touching it) is read, aligned, normalised, inferred and
blended by the stages `pipeline.segment` runs (`inputs.open_readers`, `plan.plan_run`,
`streaming.stream`), with the bands, units and tiling the job resolved once. Only the window's
own rectangle reaches the writer (`RectWriter`), whose output is committed like any single-scene
output (temporary names, renamed together), so a tile on disk is always complete. Each process
(a Dask worker, or the submitting process) opens the ONNX Runtime session once and keeps it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from ..contract.metadata import ModelMetadata
from ..engine.session import LoadedModel, load_model
from ..inputs.bands import BandSelection
from ..inputs.layers import Layer, Layers, open_readers
from ..raster.grid import Window, raster_grid
from ..raster.reading import open_raster
from ..raster.writing import OutputPaths, OutputWriter
from ..run.defaults import CPU, cpu_threading, prefetch_or_default
from ..run.options import TilingOptions
from ..run.plan import plan_run
from ..run.reporting import Clock, Reporter
from ..run.streaming import StreamSetup, stream
from .job import RegionJob
from .manifest import WindowRecord
from .plan import RegionWindow, rect_in_halo

_MODELS: dict[tuple[object, ...], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def worker_model(job: RegionJob, threads: int | None) -> LoadedModel:
    """This process's session for the job's model (opened on first use, then kept)."""
    intra = cpu_threading(threads, job.parallel_runs)[1]
    key = (job.model, job.device, job.strict_device, intra)
    with _MODELS_LOCK:
        lm = _MODELS.get(key)
        if lm is None:
            lm = load_model(job.model, job.device, job.strict_device, intra)
            _MODELS[key] = lm
    return lm


def sessions_opened() -> int:
    """How many sessions this process holds (tests check one per worker)."""
    return len(_MODELS)


class RectWriter:
    """A `blend.WindowWriter` over the halo that passes on only the pixels of `rect` (in halo
    coordinates), moved to the origin of `writer`'s grid."""

    def __init__(self, writer: OutputWriter, rect: Window) -> None:
        self.writer = writer
        self.rect = rect

    def write_window(self, row: int, col: int, classes: np.ndarray,
                     confidence: np.ndarray | None) -> None:
        r = self.rect
        h, w = classes.shape
        y0, y1 = max(row, r.yoff), min(row + h, r.yoff + r.height)
        x0, x1 = max(col, r.xoff), min(col + w, r.xoff + r.width)
        if y1 <= y0 or x1 <= x0:
            return
        rows, cols = slice(y0 - row, y1 - row), slice(x0 - col, x1 - col)
        self.writer.write_window(y0 - r.yoff, x0 - r.xoff, classes[rows, cols],
                                 None if confidence is None else confidence[rows, cols])


@contextmanager
def job_layers(job: RegionJob, meta: ModelMetadata) -> Iterator[Layers]:
    """Both layers with the job's bands and units (no per-window choice or sampling)."""
    opt_ds, sar_ds = open_raster(job.optical, "optical"), open_raster(job.sar, "SAR")
    try:
        opt_grid = raster_grid(opt_ds, "optical")
        yield Layers(
            Layer("optical", opt_ds, opt_grid, meta.optical,
                  BandSelection(tuple(job.optical_bands), "the region job"), job.optical_units),
            Layer("SAR", sar_ds, raster_grid(sar_ds, "SAR"), meta.sar,
                  BandSelection(tuple(job.sar_bands), "the region job"), job.sar_units),
            Window(0, 0, opt_grid.width, opt_grid.height),
        )
    finally:
        opt_ds = sar_ds = None  # noqa: F841 - closes the datasets


def run_window(
    job: RegionJob | dict[str, object],
    window: RegionWindow | dict[str, object],
    threads: int | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> WindowRecord:
    """Segment one window into `<work>/tiles/<name>.tif` (and its confidence)."""
    job = job if isinstance(job, RegionJob) else RegionJob.from_json(job)
    window = window if isinstance(window, RegionWindow) else RegionWindow.from_json(window)
    start = time.perf_counter()
    tiles = Path(job.work_dir) / "tiles"
    tile = tiles / f"{window.name}.tif"
    conf = tiles / f"{window.name}_conf.tif" if job.confidence else None
    lm = worker_model(job, threads)
    meta = lm.metadata
    report = Reporter(is_cancelled=is_cancelled)
    runs = cpu_threading(threads, job.parallel_runs)[0] if lm.provider == CPU else 1
    prefetch = prefetch_or_default(job.prefetch)
    with ExitStack() as stack:
        layers = stack.enter_context(job_layers(job, meta))
        plan, _ = plan_run(window.halo.width, window.halo.height, meta, lm.provider,
                           lm.static_hw, TilingOptions(job.tile_size, job.overlap,
                                                       job.batch_size))
        readers = stack.enter_context(open_readers(layers, window.halo))
        writer = stack.enter_context(OutputWriter(
            OutputPaths(tile, conf), job.grid.window(window.rect), meta.nodata_value,
            meta.classes))
        stream(lm, layers, readers, plan, RectWriter(writer, rect_in_halo(window)),
               StreamSetup(prefetch, runs, conf is not None, tta=job.tta), Clock(), report)
        writer.commit()
    return WindowRecord(
        name=window.name,
        tile=f"tiles/{tile.name}",
        confidence=f"tiles/{conf.name}" if conf else None,
        seconds=round(time.perf_counter() - start, 3),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        warnings=tuple(lm.warnings) + tuple(report.warnings),
    )
