"""The region job: everything a worker needs, resolved once on the submitting machine.

Band choice, units and tiling are decided here, once for the whole region (from the scenes,
not per window: units detected window by window could differ between windows), and handed to
every window explicitly. The job is plain JSON, so it travels to Dask workers and is stored in
the manifest; `request_fingerprint` identifies what the user asked for, to recognise a rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..bands import select_bands
from ..metadata import InputSpec
from ..raster_io import Grid, band_data_types, open_raster, sample_values
from ..session import LoadedModel
from ..tiling import TileLayout, plan_tiles
from ..units import ValueStats, resolve_units
from .inputs import Scene

UNIT_SAMPLE_SCENES = 4  # scenes sampled for unit detection (spread over the list)


@dataclass
class RegionJob:
    optical: str  # the optical dataset on exactly the output grid
    sar: str  # the SAR dataset (aligned by the single-scene code when on another grid)
    model: str
    optical_bands: list[int]
    sar_bands: list[int]
    optical_units: str
    sar_units: str
    tile_size: int
    overlap: int
    multiple_of: int
    fixed_size: bool
    grid_width: int
    grid_height: int
    geotransform: list[float]
    crs_wkt: str
    window_size: int
    confidence: bool
    work_dir: str
    batch_size: int | None = None
    device: str = "auto"
    strict_device: bool = False
    nodata: int = 255
    notes: list[str] = field(default_factory=list)

    @property
    def grid(self) -> Grid:
        return Grid(self.grid_width, self.grid_height, tuple(self.geotransform),  # type: ignore[arg-type]
                    self.crs_wkt)

    def layout(self) -> TileLayout:
        layout, _ = plan_tiles(self.grid_width, self.grid_height, self.tile_size, self.overlap,
                               self.multiple_of, self.fixed_size)
        return layout

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, object]) -> RegionJob:
        return cls(**d)  # type: ignore[arg-type]


def file_identity(path: str) -> list[object]:
    """Path, size and modification time: a changed input makes another job."""
    try:
        st = os.stat(path)
        return [str(path), st.st_size, int(st.st_mtime)]
    except OSError:
        return [str(path)]


def request_fingerprint(request: dict[str, object], files: Sequence[str]) -> str:
    doc = {"request": request, "files": [file_identity(f) for f in files]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def choose_bands(
    scene: Scene, spec: InputSpec, requested: Sequence[int] | None, role: str, param: str,
    info: Callable[[str], None], warn: Callable[[str], None],
) -> tuple[int, ...]:
    """The model's bands in the scenes, as upseg:segment chooses them for one layer."""
    sel = select_bands(list(scene.labels), spec, requested, role, param)
    for w in sel.warnings:
        warn(w)
    info(sel.describe(role[:1].upper() + role[1:], list(scene.labels)))
    return sel.bands


def choose_units(
    scenes: Sequence[Scene], bands: Sequence[int], spec: InputSpec, requested: str, role: str,
    param: str, info: Callable[[str], None], warn: Callable[[str], None],
) -> str:
    """Units from the statistics of a few scenes spread over the list (all one data type)."""
    step = max(1, len(scenes) // UNIT_SAMPLE_SCENES)
    values = []
    for s in list(scenes)[::step][:UNIT_SAMPLE_SCENES]:
        ds = open_raster(s.path, role)
        values.append(sample_values(ds, bands, role).reshape(len(bands), -1))
        dtype = band_data_types(ds, bands)[0]
        ds = None
    stats = ValueStats.of(np.concatenate(values, axis=1), dtype)
    units, how, notes = resolve_units(requested, spec, stats, role, param)
    for n in notes:
        warn(n)
    info(f"{role[:1].upper() + role[1:]} units: {units} ({how})")
    return units


def choose_tiling(
    lm: LoadedModel, tile_size: int | None, overlap: int | None
) -> tuple[int, int, bool]:
    """(tile, overlap, fixed) as upseg:segment resolves them (same defaults, same model rules),
    decided once so that workers on other devices still cut the same tiles."""
    from ..pipeline import default_tile_size
    from ..session import ModelError

    meta = lm.metadata
    fixed = lm.static_hw
    if fixed and fixed[0] != fixed[1]:
        raise ModelError(f"The model has a fixed non-square input size {fixed}; re-export it.")
    tile = fixed[0] if fixed else int(tile_size or default_tile_size(meta.tile_size, lm.provider))
    ovl = int(meta.overlap if overlap is None else overlap)
    return tile, ovl, bool(fixed)


def model_path(model: str | None) -> str:
    from ..session import default_model_path

    return str(Path(model).resolve()) if model else str(default_model_path())
