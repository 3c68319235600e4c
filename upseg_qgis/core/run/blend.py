"""Stages "blend" and "write": tile logits into the streaming accumulator, final regions out as
class values (and confidence) to the output writer.

Overlapping tiles are blended with a weight that falls smoothly towards each tile's edges
(`tiling.blend_weight`), so a pixel near one tile's edge, where the model saw little context,
is decided mostly by the neighbouring tile that sees it near its centre. Regions are handed to
the writer as soon as no later tile can touch them (`tiling.RowChunkAccumulator`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..contract.metadata import ClassInfo
from ..raster.block_assembler import CONFIDENCE_NODATA
from .chunks import Chunk
from .plan import TilePlan
from .reporting import Clock
from .tiling import RowChunkAccumulator


class WindowWriter(Protocol):
    def write_window(self, row: int, col: int, classes: np.ndarray,
                     confidence: np.ndarray | None) -> None: ...


def classes_and_confidence(blended: np.ndarray, valid: np.ndarray, values: np.ndarray,
                           nodata: int, confidence: bool, temperature: float = 1.0,
                           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Blended logits [K, h, w] -> class values [h, w] (nodata where invalid) and, if asked,
    the max softmax probability of the logits divided by the model's calibration temperature,
    = 1 / sum(exp((logit - max logit) / T)); the classes do not depend on T."""
    classes = values[np.argmax(blended, axis=0)]
    classes[~valid] = nodata
    if not confidence:
        return classes, None
    top = blended.max(axis=0)
    scaled = (blended - top[np.newaxis]) / np.float32(temperature)
    conf = (1.0 / np.exp(scaled).sum(axis=0)).astype(np.float32)
    conf[~valid] = CONFIDENCE_NODATA
    return classes, conf


class Blender:
    """Takes (tiles, logits) batches in processing order; writes final regions to `writer` at
    (`origin` + their position in the plan's window)."""

    def __init__(self, plan: TilePlan, classes: Sequence[ClassInfo], nodata: int,
                 writer: WindowWriter, confidence: bool, clock: Clock,
                 origin: tuple[int, int] = (0, 0), temperature: float = 1.0) -> None:
        lay = plan.layout
        self.plan = plan
        self.values = np.array([c.value for c in classes], dtype=np.uint8)
        self.nodata = nodata
        self.writer = writer
        self.confidence = confidence
        self.clock = clock
        self.origin = origin
        self.temperature = temperature
        self.acc = RowChunkAccumulator(len(classes), lay.width, lay.height)
        self.valid_pixels = 0

    def add(self, items: list[tuple[Chunk, int]], logits: np.ndarray) -> None:
        """One batch of tile logits [n, K, th, tw]."""
        th, tw = self.plan.layout.tile_h, self.plan.layout.tile_w
        t = time.perf_counter()
        for (chunk, i), lg in zip(items, logits, strict=True):
            if i == 0:
                if chunk.first_in_row:
                    self.acc.start_row(chunk.y, chunk.y + th, chunk.next_y)
                self.acc.reserve(chunk.xs[-1] + tw)
            self.acc.add(lg, self.plan.weight, chunk.valid[i], chunk.y, chunk.xs[i])
            if i == len(chunk.xs) - 1:
                self.clock.add("blend", time.perf_counter() - t)
                # Classes alone need only the argmax of the weighted sums.
                self._emit(self.acc.release(chunk.release_x, divide=self.confidence))
                t = time.perf_counter()
                if chunk.last_in_row:
                    self.acc.end_row()
        self.clock.add("blend", time.perf_counter() - t)

    def _emit(self, region: tuple[int, int, np.ndarray, np.ndarray] | None) -> None:
        if region is None:
            return
        t = time.perf_counter()
        row, col, blended, valid = region
        classes, conf = classes_and_confidence(blended, valid, self.values, self.nodata,
                                               self.confidence, self.temperature)
        self.valid_pixels += int(valid.sum())
        t2 = time.perf_counter()
        self.clock.add("blend", t2 - t)
        self.writer.write_window(self.origin[0] + row, self.origin[1] + col, classes, conf)
        self.clock.add("write", time.perf_counter() - t2)
