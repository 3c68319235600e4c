"""Stage "normalise": column chunks of a tile row read from both layers, converted to the
model's units, normalised and cut into tiles.

Processing order: tile rows top to bottom, each in column chunks (`TilePlan.chunks`) left to
right. Missing pixels (and padding beyond the scene) enter the model as 0, the training mean,
and are marked invalid.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..contract.metadata import InputSpec
from ..inputs.layers import Readers
from ..raster.gdal_errors import gdal_cache_used
from .defaults import INPUT_CACHE_BUDGET
from .memory import TRIM_EVERY_ROWS, release_free_memory
from .plan import TilePlan
from .reporting import Clock


@dataclass
class Chunk:
    """One column chunk of one tile row, read, normalised and cut into tiles."""

    y: int
    next_y: int  # rows above this are final once the tile row is done
    xs: tuple[int, ...]  # tile columns
    release_x: int  # columns left of this are final once these tiles are in
    first_in_row: bool
    last_in_row: bool
    optical: np.ndarray  # [n, C_opt, th, tw] float32
    sar: np.ndarray  # [n, C_sar, th, tw]
    valid: np.ndarray  # [n, th, tw] bool


def normalise(raw: np.ndarray, spec: InputSpec, units: str) -> tuple[np.ndarray, np.ndarray]:
    """(normalised values with missing pixels set to 0, where every band has data)."""
    arr = spec.prepare(raw, units)
    finite = np.isfinite(arr)
    np.putmask(arr, ~finite, 0.0)
    return arr, finite.all(axis=0)


def cut_tiles(arr: np.ndarray, xs: tuple[int, ...], x0: int, tile_h: int,
              tile_w: int) -> np.ndarray:
    """[..., h, w] starting at column x0 -> [n, ..., tile_h, tile_w] tiles at columns xs, padded
    with zeros (False) beyond the data."""
    h, right = arr.shape[-2], x0 + arr.shape[-1]
    out = np.zeros((len(xs), *arr.shape[:-2], tile_h, tile_w), dtype=arr.dtype)
    for i, x in enumerate(xs):
        w = min(tile_w, right - x)
        out[i, ..., :h, :w] = arr[..., :, x - x0 : x - x0 + w]
    return out


class ChunkSource:
    """Iterates the chunks of a plan over two readers (see the module docstring)."""

    def __init__(self, plan: TilePlan, readers: Readers, specs: tuple[InputSpec, InputSpec],
                 units: tuple[str, str], clock: Clock) -> None:
        self.plan = plan
        self.readers = readers
        self.specs = specs
        self.units = units
        self.clock = clock

    def __iter__(self) -> Iterator[Chunk]:
        lay = self.plan.layout
        for ri, y in enumerate(lay.ys):
            next_y = lay.ys[ri + 1] if ri + 1 < len(lay.ys) else lay.height
            for gi in range(len(self.plan.chunks)):
                yield self.chunk(y, next_y, gi)
            if ri % TRIM_EVERY_ROWS == TRIM_EVERY_ROWS - 1:
                release_free_memory()  # freed arrays of the last rows back to the system

    def chunk(self, y: int, next_y: int, gi: int) -> Chunk:
        lay, groups = self.plan.layout, self.plan.chunks
        th, tw = lay.tile_h, lay.tile_w
        xs = tuple(lay.xs[j] for j in groups[gi])
        x0, x1 = xs[0], min(xs[-1] + tw, lay.width)
        h = min(th, lay.height - y)
        last = gi + 1 == len(groups)
        prepared, valid = self._read(y, h, x0, x1 - x0)
        t = time.perf_counter()
        opt, sar = (cut_tiles(a, xs, x0, th, tw) for a in prepared)
        valid_t = cut_tiles(valid, xs, x0, th, tw)
        self.clock.add("normalise", time.perf_counter() - t)
        return Chunk(y=y, next_y=next_y, xs=xs,
                     release_x=lay.width if last else lay.xs[groups[gi + 1][0]],
                     first_in_row=gi == 0, last_in_row=last, optical=opt, sar=sar,
                     valid=valid_t)

    def _read(self, y: int, h: int, x0: int, w: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Both layers over the window, normalised, and where both have data."""
        prepared = []
        valid: np.ndarray | None = None
        for reader, spec, units in zip(self.readers, self.specs, self.units, strict=True):
            t = time.perf_counter()
            raw = reader.read_window(y, h, x0, w)
            if gdal_cache_used() > INPUT_CACHE_BUDGET:
                for r in self.readers:
                    r.release_cache()
            self.clock.add("warp" if reader.warped else "read", time.perf_counter() - t)
            t = time.perf_counter()
            arr, ok = normalise(raw, spec, units)
            valid = ok if valid is None else valid & ok
            prepared.append(arr)
            self.clock.add("normalise", time.perf_counter() - t)
        assert valid is not None
        return prepared, valid
