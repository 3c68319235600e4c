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


class RowChunkAccumulator:
    """Weighted sums of logits, streamed tile row by tile row and, within a row, chunk by chunk.

    Unlike `StripAccumulator`, which holds a whole strip (tile height x scene width), this holds:
    - a working window of the current tile row (tile height x the columns not yet released),
      which the caller keeps about one column chunk wide, and
    - the band the previous tile row left open (its bottom overlap, full width): the only part
      that grows with the scene's width, `overlap` rows of K+1 float32 and one bool per column.

    Per tile row: `start_row(y, bottom, next_y)`, then `add` the row's tiles left to right and
    `release(x)` whenever no later tile of this row starts left of `x`; it returns the final
    blended logits of rows [y, next_y) and columns [previous release, x). `end_row()` (after
    releasing up to the width) hands the rows [next_y, bottom) on to the next tile row.
    The result equals `StripAccumulator`'s, pixel for pixel.
    """

    def __init__(self, num_classes: int, width: int, height: int) -> None:
        self.k = num_classes
        self.width = width
        self.height = height
        self._carry_top = 0
        self._carry = self._zeros(0, width)
        self._next: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._win = self._zeros(0, 0)
        self._row: tuple[int, int, int] | None = None  # (y, bottom, next_y)
        self._x0 = 0  # first column of the working window (= released so far)
        self.peak_bytes = 0
        self.peak_window_bytes = 0
        self.peak_carry_rows = 0

    def _zeros(self, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.zeros((self.k, rows, cols), np.float32),
            np.zeros((rows, cols), np.float32),
            np.zeros((rows, cols), bool),
        )

    @staticmethod
    def _nbytes(arrays: tuple[np.ndarray, ...] | None) -> int:
        return sum(a.nbytes for a in arrays) if arrays else 0

    def _account(self) -> None:
        win = self._nbytes(self._win)
        self.peak_window_bytes = max(self.peak_window_bytes, win)
        total = win + self._nbytes(self._carry) + self._nbytes(self._next)
        self.peak_bytes = max(self.peak_bytes, total)

    def start_row(self, y: int, bottom: int, next_y: int) -> None:
        """Tiles of this row cover rows [y, bottom); rows [y, next_y) are final after it."""
        if self._row is not None:
            raise ValueError("start_row() before end_row() of the previous tile row")
        bottom = min(bottom, self.height)
        next_y = min(next_y, bottom)
        held = self._carry[1].shape[0]
        if held and self._carry_top != y:
            raise ValueError(f"tile row at {y} but rows from {self._carry_top} are still open")
        if held > bottom - y:
            raise ValueError("a tile row must reach at least as low as the previous one")
        self._row = (y, bottom, next_y)
        self._x0 = 0
        self._win = self._zeros(bottom - y, 0)
        self._next = self._zeros(bottom - next_y, self.width)
        self.peak_carry_rows = max(self.peak_carry_rows, bottom - next_y, held)
        self._account()

    def reserve(self, right: int) -> None:
        """Make room up to column `right` at once (e.g. for a whole chunk of tiles), so that
        `add` does not grow the window tile by tile."""
        if self._row is None:
            raise ValueError("reserve() outside a tile row")
        self._extend(min(right, self.width))

    def _extend(self, right: int) -> None:
        """Grow the working window to column `right`, bringing in the open band's values."""
        have = self._x0 + self._win[1].shape[1]
        if right <= have:
            return
        rows = self._win[1].shape[0]
        new = self._zeros(rows, right - have)
        held = self._carry[1].shape[0]
        if held:
            for dst, src in zip(new, self._carry, strict=True):
                dst[..., :held, :] = src[..., :, have:right]
        self._win = tuple(  # type: ignore[assignment]
            np.concatenate([w, n], axis=-1) for w, n in zip(self._win, new, strict=True)
        )
        self._account()

    def add(
        self, logits: np.ndarray, weight: np.ndarray, valid: np.ndarray, y: int, x: int
    ) -> None:
        """logits [K, h, w] of the tile at (y, x) of the current row; parts outside the scene
        are ignored."""
        if self._row is None or y != self._row[0]:
            raise ValueError(f"tile at row {y} is not in the current tile row")
        if x < self._x0:
            raise ValueError(f"tile at column {x} arrives after columns up to {self._x0} left")
        h = min(logits.shape[1], self._row[1] - y)
        w = min(logits.shape[2], self.width - x)
        self._extend(x + w)
        c0 = x - self._x0
        s, ws, v = self._win
        s[:, :h, c0 : c0 + w] += logits[:, :h, :w] * weight[np.newaxis, :h, :w]
        ws[:h, c0 : c0 + w] += weight[:h, :w]
        v[:h, c0 : c0 + w] = valid[:h, :w]

    def release(
        self, x: int, divide: bool = True
    ) -> tuple[int, int, np.ndarray, np.ndarray] | None:
        """(first row, first column, blended logits [K, n, w], valid [n, w]) of the final rows
        [y, next_y) over columns [previous release, x); None when there is nothing to give.
        With `divide=False`, the weighted sums instead of the blended logits: the weights are
        positive, so their argmax is the same, one division cheaper."""
        if self._row is None:
            raise ValueError("release() outside a tile row")
        y, bottom, next_y = self._row
        x = min(x, self.width)
        n = x - self._x0
        if n <= 0:
            return None
        self._extend(x)
        s, ws, v = self._win
        split = next_y - y
        if np.any(ws[:, :n] <= 0):
            raise AssertionError("columns were released before every tile covering them")
        if divide:
            blended = s[:, :split, :n] / ws[np.newaxis, :split, :n]
        else:
            blended = s[:, :split, :n].copy()
        valid = v[:split, :n].copy()
        assert self._next is not None
        for dst, src in zip(self._next, self._win, strict=True):
            dst[..., :, self._x0 : x] = src[..., split:, :n]
        first = self._x0
        # Copies, so the released columns' memory goes rather than staying alive in views.
        self._win = tuple(a[..., n:].copy() for a in self._win)  # type: ignore[assignment]
        self._x0 = x
        return y, first, blended, valid

    def end_row(self) -> None:
        """Close the tile row (every column released); its bottom overlap stays open."""
        if self._row is None:
            raise ValueError("end_row() outside a tile row")
        if self._x0 < self.width:
            raise ValueError(f"end_row() with columns {self._x0}..{self.width} not released")
        assert self._next is not None
        self._carry_top = self._row[2]
        self._carry = self._next
        self._next = None
        self._row = None
        self._win = self._zeros(0, 0)


def column_groups(layout: TileLayout, target_width: int) -> tuple[tuple[int, ...], ...]:
    """Tile columns grouped into chunks about `target_width` pixels wide (at least one tile
    each): the pipeline reads, warps and releases one such chunk of a tile row at a time."""
    stride = max(layout.tile_w - layout.overlap, 1)
    per = max(1, (max(target_width, layout.tile_w) - layout.overlap) // stride)
    n = len(layout.xs)
    return tuple(tuple(range(i, min(i + per, n))) for i in range(0, n, per))
