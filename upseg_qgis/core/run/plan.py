"""Stage "plan": tile size, overlap, batch, the tile layout over the output window, its column
chunks and the blending weight. Pure arithmetic on sizes and the model's metadata."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract.metadata import ModelMetadata
from ..engine.session import ModelError
from .defaults import DEFAULT_CHUNK_WIDTH, default_batch_size, default_tile_size
from .options import TilingOptions
from .tiling import TileLayout, TilingError, blend_weight, column_groups, plan_tiles


@dataclass(frozen=True)
class TilePlan:
    layout: TileLayout
    batch: int
    chunks: tuple[tuple[int, ...], ...]  # tile columns processed together (see column_groups)
    weight: np.ndarray  # [tile_h, tile_w] blending weight
    notes: tuple[str, ...] = ()

    @property
    def batches(self) -> int:
        return -(-self.layout.count // self.batch)

    def describe(self) -> str:
        lay = self.layout
        return (f"{lay.width}x{lay.height} px in {lay.count} tile(s) of {lay.tile_h}x{lay.tile_w}"
                f" px, overlap {lay.overlap}, {self.batches} batch(es) of up to {self.batch}")


def tile_size_for(meta: ModelMetadata, provider: str, static_hw: tuple[int, int] | None,
                  requested: int | None) -> tuple[int, list[str]]:
    """The tile size to use, and warnings."""
    if static_hw and static_hw[0] != static_hw[1]:
        raise ModelError(f"The model has a fixed non-square input size {static_hw}; re-export it.")
    if static_hw:
        warnings = []
        if requested and requested != static_hw[0]:
            warnings.append(f"The model only takes {static_hw[0]}x{static_hw[1]} tiles; "
                            "TILE_SIZE is ignored.")
        return static_hw[0], warnings
    return int(requested or default_tile_size(meta.tile_size, provider)), []


def batch_size_for(meta: ModelMetadata, provider: str, requested: int | None) -> int:
    tiling_raw = meta.raw.get("tiling", {}) if isinstance(meta.raw, dict) else {}
    batch = int(requested or tiling_raw.get("batch_size") or default_batch_size(provider))
    if batch < 1:
        raise TilingError(f"BATCH_SIZE must be at least 1, got {batch}.")
    return batch


def fixed_tiling(meta: ModelMetadata, tile_size: int | None,
                 overlap: int | None) -> tuple[int | None, int | None, list[str]]:
    """A model whose map depends on the tile runs at its own tile size and overlap: asking for
    others would change the map, not only memory and speed. Say so when the user asked."""
    if not meta.fixed_tiling:
        return tile_size, overlap, []
    asked = {"TILE_SIZE": (tile_size, meta.tile_size), "OVERLAP": (overlap, meta.overlap)}
    ignored = [f"{k} {v}" for k, (v, own) in asked.items() if v is not None and v != own]
    warnings = []
    if ignored:
        warnings.append(
            f"{' and '.join(ignored)} ignored: this model's map depends on the tile (its "
            f"metadata says tiling.fixed), so it always runs on {meta.tile_size} px tiles with "
            f"{meta.overlap} px overlap, and the map stays the same whatever the memory settings. "
            "Use BATCH_SIZE to trade memory for speed.")
    return meta.tile_size, meta.overlap, warnings


def resolve_tiling(meta: ModelMetadata, provider: str, static_hw: tuple[int, int] | None,
                   tile_size: int | None, overlap: int | None) -> tuple[int, int, list[str]]:
    """(tile size, overlap, warnings) as a run uses them; region jobs decide them the same way."""
    tile_size, overlap, warnings = fixed_tiling(meta, tile_size, overlap)
    tile, more = tile_size_for(meta, provider, static_hw, tile_size)
    return tile, int(meta.overlap if overlap is None else overlap), warnings + more


def plan_run(width: int, height: int, meta: ModelMetadata, provider: str,
             static_hw: tuple[int, int] | None, opts: TilingOptions) -> tuple[TilePlan, list[str]]:
    """The plan for a width x height output window, and warnings."""
    tile, overlap, warnings = resolve_tiling(meta, provider, static_hw, opts.tile_size,
                                             opts.overlap)
    batch = batch_size_for(meta, provider, opts.batch_size)
    layout, notes = plan_tiles(width, height, tile, overlap, meta.multiple_of, bool(static_hw))
    chunks = column_groups(layout, opts.chunk_width or DEFAULT_CHUNK_WIDTH)
    weight = blend_weight(layout.tile_h, layout.tile_w, layout.overlap)
    return TilePlan(layout, batch, chunks, weight, tuple(notes)), warnings
