"""Windows of an output raster in, whole GeoTIFF blocks out (each compressed block written once)."""

from __future__ import annotations

from typing import Any

import numpy as np

CONFIDENCE_NODATA = -1.0  # max class probability is always > 0, so -1 cannot be a value


class BlockAssembler:
    """Windows of an output raster in, whole blocks (or runs of whole blocks) out.

    A window's part that covers whole blocks comes straight back; the rest is copied into
    per-block buffers that come back once every pixel of their block has arrived. Windows must
    not overlap. Memory: only the partly covered blocks (for windows that follow the tile
    layout, about one row of blocks across the scene when rows are not block-aligned).
    """

    def __init__(self, width: int, height: int, block: int, fill: int, confidence: bool) -> None:
        self.width = width
        self.height = height
        self.block = block
        self.fill = fill
        self.confidence = confidence
        # (block row, block col) -> [classes, confidence or None, pixels still missing]
        self._pending: dict[tuple[int, int], list[Any]] = {}

    @property
    def pending_blocks(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return sum(
            p[0].nbytes + (p[1].nbytes if p[1] is not None else 0) for p in self._pending.values()
        )

    def _inner(self, start: int, stop: int, size: int) -> tuple[int, int]:
        """The block-aligned part [a, b) of [start, stop); a raster edge counts as aligned."""
        b = self.block
        a = -(-start // b) * b
        e = size if stop == size else (stop // b) * b
        return a, max(a, e)

    def add(
        self, row: int, col: int, classes: np.ndarray, conf: np.ndarray | None
    ) -> list[tuple[int, int, np.ndarray, np.ndarray | None]]:
        h, w = classes.shape
        if row < 0 or col < 0 or row + h > self.height or col + w > self.width:
            raise ValueError(f"window {col},{row} {w}x{h} outside {self.width}x{self.height}")
        out: list[tuple[int, int, np.ndarray, np.ndarray | None]] = []
        r0, r1 = self._inner(row, row + h, self.height)
        c0, c1 = self._inner(col, col + w, self.width)
        if r1 > r0 and c1 > c0:
            out.append(
                (
                    r0,
                    c0,
                    classes[r0 - row : r1 - row, c0 - col : c1 - col],
                    None if conf is None else conf[r0 - row : r1 - row, c0 - col : c1 - col],
                )
            )
        else:
            r0 = r1 = c0 = c1 = -1
        b = self.block
        for bi in range(row // b, (row + h - 1) // b + 1):
            for bj in range(col // b, (col + w - 1) // b + 1):
                y0, x0 = bi * b, bj * b
                if r0 <= y0 < r1 and c0 <= x0 < c1:
                    continue  # inside the aligned part
                bh, bw = min(b, self.height - y0), min(b, self.width - x0)
                ya, yb = max(row, y0), min(row + h, y0 + bh)
                xa, xb = max(col, x0), min(col + w, x0 + bw)
                entry = self._pending.get((bi, bj))
                if entry is None:
                    entry = [
                        np.full((bh, bw), self.fill, np.uint8),
                        np.full((bh, bw), CONFIDENCE_NODATA, np.float32)
                        if self.confidence
                        else None,
                        bh * bw,
                    ]
                    self._pending[(bi, bj)] = entry
                entry[0][ya - y0 : yb - y0, xa - x0 : xb - x0] = classes[
                    ya - row : yb - row, xa - col : xb - col
                ]
                if entry[1] is not None and conf is not None:
                    entry[1][ya - y0 : yb - y0, xa - x0 : xb - x0] = conf[
                        ya - row : yb - row, xa - col : xb - col
                    ]
                entry[2] -= (yb - ya) * (xb - xa)
                if entry[2] <= 0:
                    del self._pending[(bi, bj)]
                    out.append((y0, x0, entry[0], entry[1]))
        return out
