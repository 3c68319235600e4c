"""The region job: everything a worker needs, resolved once on the submitting machine.

Band choice, units and tiling are decided here, once for the whole region (from the scenes,
not per window: units detected window by window could differ between windows), and handed to
every window explicitly. SAR scenes in different units (dB, linear) are refused rather than
pooled into one silent choice (`check_one_unit`). The job is plain JSON, so it travels to Dask
workers and is stored in the manifest; `request_fingerprint` identifies what the user asked
for, to recognise a rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..contract.metadata import InputSpec
from ..engine.session import LoadedModel
from ..inputs.layers import choose_bands, choose_units
from ..inputs.product_offset import ProductOffsetError, product_offset
from ..inputs.units import AUTO, UnitsError, ValueStats, resolve_units
from ..raster.grid import Grid
from ..raster.reading import band_data_types, open_raster
from ..raster.sampling import sample_values
from ..run.plan import resolve_tiling
from ..run.reporting import Reporter
from ..run.tiling import TileLayout, plan_tiles
from .inputs import Scene, scene_sources


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
    # As RuntimeOptions: honoured by every window (tta changes the map; the others only speed).
    tta: str = "none"
    parallel_runs: int | None = None
    prefetch: bool | None = None

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


def choose_inputs(
    mosaic: str, spec: InputSpec, bands: Sequence[int] | None, units: str, role: str,
    report: Reporter, scenes: Sequence[Scene] = (),
) -> tuple[tuple[int, ...], str]:
    """Bands and units of a role, chosen by the single-scene stage (`inputs.choose_bands`,
    `inputs.choose_units`) once on the role's mosaic: unit statistics come from samples spread
    over all its scenes, not from the window each worker happens to read. `scenes`: first
    check that each of these is in the same units (`check_one_unit`)."""
    param = "OPTICAL" if role == "optical" else "SAR"
    ds = open_raster(mosaic, role)
    sel = choose_bands(ds, spec, bands, role, f"{param}_BANDS", report)
    if scenes:
        check_one_unit(scenes, spec, sel.bands, units, role, f"{param}_UNITS", report)
    chosen = choose_units(ds, spec, sel, units, role, f"{param}_UNITS", report)
    return sel.bands, chosen


def check_one_unit(scenes: Sequence[Scene], spec: InputSpec, bands: Sequence[int],
                   requested: str, role: str, parameter: str, report: Reporter) -> None:
    """Scenes in different units (SAR in dB beside linear power) cannot share the one unit a
    pooled sample chooses: each scene (each source of a VRT mosaic) is detected on its own.
    When they differ, `auto` is refused, naming them; a unit the user set is kept, with a
    warning that names them."""
    files = list(dict.fromkeys(f for s in scenes for f in scene_sources(s.path, role)))
    if len(files) < 2:
        return
    found: dict[str, list[str]] = {}
    for f in files:
        ds = open_raster(f, role)
        stats = ValueStats.of(sample_values(ds, bands, role), band_data_types(ds, bands)[0])
        try:
            units = resolve_units(AUTO, spec, stats, role, parameter)[0]
        except UnitsError:
            continue  # no valid pixels, or no accepted unit: the pooled choice says so
        found.setdefault(units, []).append(f)
    if len(found) < 2:
        return
    listed = "; ".join(f"{units}: {_some(paths)}" for units, paths in found.items())
    if requested and requested != AUTO:
        report.warning(
            f"{parameter} is {requested}, but the {role} scenes look like different units "
            f"({listed}). The scenes in other units are read as {requested}, which is wrong: "
            "convert them to one unit.")
        return
    raise UnitsError(
        f"The {role} scenes are in different units ({listed}), and one region job reads all "
        "of them in one unit. Convert them to one unit (dB = 10 * log10(linear power)), or "
        f"segment each group as its own region job; if the detection is wrong, set {parameter} "
        "to the units they are all in.")


def _some(paths: Sequence[str], n: int = 3) -> str:
    more = f" and {len(paths) - n} more" if len(paths) > n else ""
    return ", ".join(paths[:n]) + more


def check_one_offset(scenes: Sequence[Scene], bands: Sequence[int]) -> None:
    """Optical scenes that state different radiometric offsets (e.g. Sentinel-2 before and
    after processing baseline 04.00) cannot share one unit: refuse, naming two of them."""
    seen: dict[float | None, str] = {}
    for s in scenes:
        try:
            off = product_offset(open_raster(s.path, "optical"), bands)
        except ProductOffsetError as exc:
            raise UnitsError(f"{s.path}: {exc}") from None
        seen.setdefault(off.value if off else None, s.path)
    if len(seen) > 1:
        (a, pa), (b, pb) = list(seen.items())[:2]
        raise UnitsError(
            f"The optical scenes state different radiometric offsets ({pa}: {a}, {pb}: {b}; "
            "e.g. Sentinel-2 before and after processing baseline 04.00). Segment each group "
            "as its own region job, or remove the offsets first."
        )


def choose_tiling(
    lm: LoadedModel, tile_size: int | None, overlap: int | None, report: Reporter
) -> tuple[int, int, bool]:
    """(tile, overlap, fixed) as the single-scene plan stage resolves them, decided once so
    that workers on other devices still cut the same tiles."""
    tile, ovl, warnings = resolve_tiling(lm.metadata, lm.provider, lm.static_hw, tile_size,
                                         overlap)
    for w in warnings:
        report.warning(w)
    return tile, ovl, bool(lm.static_hw)


def model_path(model: str | None) -> str:
    from ..engine.session import default_model_path

    return str(Path(model).resolve()) if model else str(default_model_path())
