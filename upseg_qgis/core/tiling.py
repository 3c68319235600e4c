"""Tile layout with overlap, a smooth blending weight, and the streaming strip accumulator.

Tiles overlap by `overlap` pixels; every tile's logits are multiplied by a weight that falls
smoothly towards the tile's edges, summed, and divided by the summed weights. Rows are handed
out as soon as no later tile can touch them, so only a strip about one tile high is ever held:
memory does not grow with the scene's height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_MIN_WEIGHT = 1e-3  # the outermost pixels still count, so a lone tile edge is never 0/0


class TilingError(ValueError):
    """Tile size or overlap cannot work; the message says what to do."""


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def tile_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Start offsets along one axis: stride tile-overlap, the last tile flush with the end."""
    if length <= tile:
        return (0,)
    stride = tile - overlap
    n = int(math.ceil((length - tile) / stride)) + 1
    starts = sorted({min(i * stride, length - tile) for i in range(n)})
    return tuple(starts)


@dataclass(frozen=True)
class TileLayout:
    width: int
    height: int
    tile_h: int
    tile_w: int
    overlap: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.xs) * len(self.ys)

    def tiles(self) -> list[tuple[int, int]]:
        """(y, x) of every tile, row by row."""
        return [(y, x) for y in self.ys for x in self.xs]


def plan_tiles(
    width: int,
    height: int,
    tile_size: int,
    overlap: int,
    multiple_of: int = 1,
    fixed_size: bool = False,
) -> tuple[TileLayout, list[str]]:
    """The tile layout and notes about any adjustment made.

    The tile size is rounded up to `multiple_of` (the model pads otherwise). A scene smaller
    than a tile gets one smaller tile (rounded up to `multiple_of` and padded), unless the model
    has a fixed input size (`fixed_size`).
    """
    notes: list[str] = []
    if width <= 0 or height <= 0:
        raise TilingError("The area to process is empty.")
    if tile_size < 1:
        raise TilingError(f"TILE_SIZE must be positive, got {tile_size}.")
    if overlap < 0:
        raise TilingError(f"OVERLAP must be 0 or more, got {overlap}.")
    if not fixed_size and tile_size % multiple_of:
        rounded = _round_up(tile_size, multiple_of)
        notes.append(
            f"Tile size {tile_size} rounded up to {rounded}, a multiple of {multiple_of} as the "
            "model expects."
        )
        tile_size = rounded
    if 2 * overlap >= tile_size:
        raise TilingError(
            f"OVERLAP ({overlap}) must be less than half of TILE_SIZE ({tile_size}). Lower the "
            "overlap or raise the tile size."
        )
    th = tw = tile_size
    if not fixed_size:
        th = min(tile_size, _round_up(height, multiple_of))
        tw = min(tile_size, _round_up(width, multiple_of))
    layout = TileLayout(
        width=width,
        height=height,
        tile_h=th,
        tile_w=tw,
        overlap=overlap,
        xs=tile_starts(width, tw, overlap),
        ys=tile_starts(height, th, overlap),
    )
    return layout, notes


def _ramp(length: int, overlap: int) -> np.ndarray:
    """1-D weight: a raised-cosine rise over `overlap` pixels at both ends, 1 in between."""
    w = np.ones(length, dtype=np.float64)
    if overlap <= 0:
        return w.astype(np.float32)
    d = np.minimum(np.arange(length), np.arange(length)[::-1]).astype(np.float64)
    ramp = np.sin(0.5 * np.pi * np.minimum(1.0, (d + 0.5) / overlap)) ** 2
    return np.maximum(ramp, _MIN_WEIGHT).astype(np.float32)


def blend_weight(tile_h: int, tile_w: int, overlap: int) -> np.ndarray:
    """2-D blending weight [tile_h, tile_w] in (0, 1], smooth, highest in the tile's centre."""
    return np.outer(_ramp(tile_h, overlap), _ramp(tile_w, overlap)).astype(np.float32)


class StripAccumulator:
    """Weighted sums of logits for the rows not yet final, and their validity.

    `add` tiles in any order within the rows still held; `pop_until(row)` returns the blended
    logits of all rows above `row` and forgets them.
    """

    def __init__(self, num_classes: int, width: int, height: int) -> None:
        self.k = num_classes
        self.width = width
        self.height = height
        self.top = 0  # first row still held
        self._sum = np.zeros((num_classes, 0, width), dtype=np.float32)
        self._wsum = np.zeros((0, width), dtype=np.float32)
        self._valid = np.zeros((0, width), dtype=bool)
        self.peak_rows = 0

    @property
    def rows_held(self) -> int:
        return self._wsum.shape[0]

    def _ensure(self, bottom: int) -> None:
        need = bottom - self.top
        have = self.rows_held
        if need <= have:
            return
        extra = need - have
        self._sum = np.concatenate(
            [self._sum, np.zeros((self.k, extra, self.width), dtype=np.float32)], axis=1
        )
        self._wsum = np.concatenate([self._wsum, np.zeros((extra, self.width), np.float32)])
        self._valid = np.concatenate([self._valid, np.zeros((extra, self.width), bool)])
        self.peak_rows = max(self.peak_rows, need)

    def add(
        self, logits: np.ndarray, weight: np.ndarray, valid: np.ndarray, y: int, x: int
    ) -> None:
        """logits [K, h, w] of the tile at (y, x); parts outside the scene are ignored."""
        if y < self.top:
            raise ValueError(f"tile at row {y} arrives after rows up to {self.top} were popped")
        h = min(logits.shape[1], self.height - y)
        w = min(logits.shape[2], self.width - x)
        self._ensure(y + h)
        r0 = y - self.top
        self._sum[:, r0 : r0 + h, x : x + w] += logits[:, :h, :w] * weight[np.newaxis, :h, :w]
        self._wsum[r0 : r0 + h, x : x + w] += weight[:h, :w]
        self._valid[r0 : r0 + h, x : x + w] = valid[:h, :w]

    def pop_until(self, row: int) -> tuple[int, np.ndarray, np.ndarray] | None:
        """(first row, blended logits [K, n, W], valid [n, W]) for rows [top, row), or None."""
        row = min(row, self.height)
        n = min(row - self.top, self.rows_held)
        if n <= 0:
            return None
        wsum = self._wsum[:n]
        if np.any(wsum <= 0):
            raise AssertionError("a row was popped before every tile covering it was added")
        blended = self._sum[:, :n] / wsum[np.newaxis]
        valid = self._valid[:n].copy()
        first = self.top
        # Copies, so the popped rows' memory is released rather than kept alive by views.
        self._sum = self._sum[:, n:].copy()
        self._wsum = self._wsum[n:].copy()
        self._valid = self._valid[n:].copy()
        self.top += n
        return first, blended, valid
