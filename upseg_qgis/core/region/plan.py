"""Windows on the output grid, aligned to the global tile grid, and the halo each one needs.

The tiles are planned once for the whole output grid (`tiling.plan_tiles`). A window owns a
rectangle of output pixels (a cell of a regular cut of the grid) and is computed from every
global tile that touches that rectangle: its halo. Every pixel of the rectangle then gets the
contributions of exactly the tiles that cover it in a single run over the whole grid, added in
the same order, so the result does not depend on the window size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..raster.grid import Window
from ..run.tiling import TileLayout

DEFAULT_WINDOW_SIZE = 4096  # px; about 17 Mpx, several seconds of work per window on a CPU
MIN_WINDOW_SIZE = 16


class PlanError(ValueError):
    """The window plan cannot work; the message says what to do."""


@dataclass(frozen=True)
class RegionWindow:
    """One unit of work: output pixels `rect`, computed from the tiles covering `halo`."""

    name: str
    rect: Window
    halo: Window

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "rect": _win_list(self.rect), "halo": _win_list(self.halo)}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> RegionWindow:
        return cls(str(d["name"]), Window(*d["rect"]), Window(*d["halo"]))  # type: ignore[misc]


def _win_list(w: Window) -> list[int]:
    return [w.xoff, w.yoff, w.width, w.height]


def halo_span(starts: Sequence[int], tile: int, length: int, a: int, b: int) -> tuple[int, int]:
    """[lo, hi) covered by the tiles (starting at `starts`, `tile` long, clipped to `length`)
    that overlap the pixels [a, b)."""
    touching = [s for s in starts if s < b and s + tile > a]
    if not touching:
        raise PlanError(f"no tile covers pixels {a}..{b} (an internal error; please report it)")
    return touching[0], min(touching[-1] + tile, length)


def plan_windows(layout: TileLayout, window_size: int) -> list[RegionWindow]:
    """The grid cut into `window_size` squares (smaller at the right and bottom edges), row by
    row, each with its halo."""
    if window_size < MIN_WINDOW_SIZE:
        raise PlanError(
            f"The window size must be at least {MIN_WINDOW_SIZE} px, got {window_size}. "
            f"Use a few thousand pixels (default {DEFAULT_WINDOW_SIZE})."
        )
    windows = []
    n_rows = -(-layout.height // window_size)
    n_cols = -(-layout.width // window_size)
    digits = max(3, len(str(max(n_rows, n_cols) - 1)))
    for i in range(n_rows):
        y0, y1 = i * window_size, min((i + 1) * window_size, layout.height)
        hy0, hy1 = halo_span(layout.ys, layout.tile_h, layout.height, y0, y1)
        for j in range(n_cols):
            x0, x1 = j * window_size, min((j + 1) * window_size, layout.width)
            hx0, hx1 = halo_span(layout.xs, layout.tile_w, layout.width, x0, x1)
            windows.append(
                RegionWindow(
                    name=f"r{i:0{digits}d}_c{j:0{digits}d}",
                    rect=Window(x0, y0, x1 - x0, y1 - y0),
                    halo=Window(hx0, hy0, hx1 - hx0, hy1 - hy0),
                )
            )
    return windows


def halo_overhead(windows: Sequence[RegionWindow]) -> float:
    """Pixels inferred over pixels owned, minus 1 (0.1 = 10 % extra work from the halos)."""
    owned = sum(w.rect.width * w.rect.height for w in windows)
    read = sum(w.halo.width * w.halo.height for w in windows)
    return read / max(owned, 1) - 1.0


def rect_in_halo(window: RegionWindow) -> Window:
    """Where the window's own pixels sit inside its halo."""
    r, h = window.rect, window.halo
    return Window(r.xoff - h.xoff, r.yoff - h.yoff, r.width, r.height)
