"""One window of the output through the stages: normalise -> infer -> blend -> write.

`stream` reads the plan's chunks from the readers (`chunks`, in a reader thread with prefetch),
runs their tiles through the model (`inference`, in this thread, several runs at once on the
CPU) and blends and writes the results (`blend`, in a writer thread with prefetch). It checks
for cancellation after every batch and while it waits for anything. Whatever happens, both
helper threads are stopped before it returns, so the caller may then close the readers and
commit or remove the output. A region job calls it once per window, with its own plan,
readers and `origin`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from ..engine.inference import Items, ModelRunner
from ..engine.session import LoadedModel
from ..inputs.layers import Layers, Readers
from .blend import Blender, WindowWriter
from .chunks import Chunk, ChunkSource
from .defaults import PREFETCH_DEPTH, SINK_DEPTH
from .plan import TilePlan
from .reporting import Clock, Reporter
from .threads import Prefetcher, Sink


@dataclass
class StreamStats:
    tiles: int = 0
    batches: int = 0
    valid_pixels: int = 0
    input_wait: float = 0.0  # seconds the model waited for input


@dataclass(frozen=True)
class StreamSetup:
    """How to run the stages: threads and where the window sits in the writer's grid."""

    prefetch: bool
    runs: int  # ONNX Runtime runs at once
    confidence: bool
    origin: tuple[int, int] = (0, 0)  # (row, col) of the window in the writer's grid
    tta: str = "none"  # test-time augmentation (tta.py)


def stream(lm: LoadedModel, layers: Layers, readers: Readers, plan: TilePlan,
           writer: WindowWriter, setup: StreamSetup, clock: Clock,
           report: Reporter) -> StreamStats:
    meta = lm.metadata
    source = ChunkSource(plan, readers, (meta.optical, meta.sar),
                         (layers.optical.units, layers.sar.units), clock)
    blender = Blender(plan, meta.classes, meta.nodata_value, writer, setup.confidence, clock,
                      setup.origin, meta.temperature)
    stats = StreamStats()
    report.check("before the first tile")
    with ExitStack() as stack:
        feed: Iterable[Chunk] = source
        sink = None
        if setup.prefetch:
            feed = stack.enter_context(Prefetcher(source, PREFETCH_DEPTH, report))
            sink = stack.enter_context(Sink(SINK_DEPTH, report))
        runner = stack.enter_context(ModelRunner(lm, plan.batch, setup.runs, meta.num_classes,
                                                 clock, report, setup.tta))

        def done(items: Items, logits: np.ndarray) -> None:
            if sink is not None:
                sink.submit(blender.add, items, logits)
            else:
                blender.add(items, logits)
            stats.tiles += len(items)
            stats.batches += 1
            report.step(stats.tiles / plan.layout.count,
                        f"Tile batch {stats.batches}/{plan.batches}")
            report.check(f"after {stats.tiles} of {plan.layout.count} tiles")

        for chunk in _timed(feed, stats, setup.prefetch):
            for items, logits in runner.add(chunk):
                done(items, logits)
        for items, logits in runner.flush():
            done(items, logits)
        if sink is not None:
            sink.finish()
    stats.valid_pixels = blender.valid_pixels
    return stats


def _timed(feed: Iterable[Chunk], stats: StreamStats, count: bool) -> Iterable[Chunk]:
    """The chunks of `feed`, adding the time spent waiting for each to `stats.input_wait`."""
    it = iter(feed)
    while True:
        t0 = time.perf_counter()
        chunk = next(it, None)
        if count:
            stats.input_wait += time.perf_counter() - t0
        if chunk is None:
            return
        yield chunk
