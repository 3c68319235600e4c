"""Stage "open": the optical and SAR layers, their bands and units, and their readers.

`open_layers` opens both rasters, picks the bands (`bands`) and the units (`units`, with the
product's offset) and logs each choice; `open_readers` puts both layers on a window of the
output grid (`reading`, `warping`). Both are context managers: the datasets and readers are
released on every path, error or not. A region job runs `open_readers` once per window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from osgeo import gdal

from ..contract.metadata import InputSpec, ModelMetadata
from ..raster.grid import Grid, Window, raster_grid, window_for_extent
from ..raster.reading import StripReader, band_data_types, band_labels, open_raster
from ..raster.sampling import sample_values
from ..raster.warping import aligned_reader
from ..run.options import InputOptions
from ..run.reporting import Reporter
from .bands import BandSelection, select_bands
from .input_check import unlike_training_warning
from .product_offset import ProductOffset, ProductOffsetError, product_offset
from .units import UnitsError, ValueStats, resolve_units


@dataclass
class Layer:
    """One input layer, ready to be read: its bands in the model's order and its units."""

    role: str  # "optical" or "SAR" (as the messages say it)
    ds: gdal.Dataset
    grid: Grid
    spec: InputSpec
    selection: BandSelection
    units: str


@dataclass
class Layers:
    optical: Layer
    sar: Layer
    window: Window  # the output area within the optical layer (EXTENT)

    @property
    def grid(self) -> Grid:
        """The output grid: the optical layer's, over `window`."""
        return self.optical.grid.window(self.window)


def _title(role: str) -> str:
    return role[:1].upper() + role[1:]


def choose_bands(ds: gdal.Dataset, spec: InputSpec, requested: Sequence[int] | None,
                 role: str, parameter: str, report: Reporter) -> BandSelection:
    labels = band_labels(ds)
    sel = select_bands(labels, spec, requested, role, parameter)
    for w in sel.warnings:
        report.warning(w)
    report.say(sel.describe(_title(role), labels))
    return sel


def choose_units(ds: gdal.Dataset, spec: InputSpec, sel: BandSelection, requested: str,
                 role: str, parameter: str, report: Reporter) -> str:
    sample = sample_values(ds, sel.bands, role)
    stats = ValueStats.of(sample, band_data_types(ds, sel.bands)[0])
    offset: ProductOffset | None = None
    if role == "optical":
        try:
            offset = product_offset(ds, sel.bands)
        except ProductOffsetError as exc:
            raise UnitsError(str(exc)) from None
    units, how, notes = resolve_units(requested, spec, stats, role, parameter, offset)
    for w in notes:
        report.warning(w)
    conv = spec.conversion_for(units)
    if units == spec.units:
        how_model = "the model's own units"
    else:
        how_model = f"converted to the model's {spec.units}" + (
            f": {conv.description}" if conv.description else "")
    report.say(f"{_title(role)} units: {units} ({how}); {how_model}")
    unlike = unlike_training_warning(spec, sample, units, role, parameter)
    if unlike:
        report.warning(unlike)
    return units


def _layer(path: str, role: str, spec: InputSpec, bands: Sequence[int] | None, units: str,
           report: Reporter) -> Layer:
    param = "OPTICAL" if role == "optical" else "SAR"
    ds = open_raster(path, role)
    grid = raster_grid(ds, role)
    sel = choose_bands(ds, spec, bands, role, f"{param}_BANDS", report)
    chosen = choose_units(ds, spec, sel, units, role, f"{param}_UNITS", report)
    return Layer(role, ds, grid, spec, sel, chosen)


@contextmanager
def open_layers(optical: str, sar: str, meta: ModelMetadata, opts: InputOptions,
                report: Reporter) -> Iterator[Layers]:
    """Both layers, with bands and units chosen and logged; released when the block ends."""
    opt = _layer(optical, "optical", meta.optical, opts.optical_bands, opts.optical_units,
                 report)
    try:
        window = window_for_extent(opt.grid, opts.extent)
        sar_layer = _layer(sar, "SAR", meta.sar, opts.sar_bands, opts.sar_units, report)
        try:
            yield Layers(opt, sar_layer, window)
        finally:
            sar_layer.ds = None
    finally:
        opt.ds = None


@dataclass
class Readers:
    optical: StripReader
    sar: StripReader

    def __iter__(self) -> Iterator[StripReader]:
        return iter((self.optical, self.sar))


@contextmanager
def open_readers(layers: Layers, window: Window | None = None,
                 report: Reporter | None = None) -> Iterator[Readers]:
    """Readers of both layers on `window` of the optical layer (default: the output window),
    the SAR resampled on the fly when its grid differs (in linear power when in dB)."""
    win = window or layers.window
    full = layers.optical.grid
    target = full.window(win)
    opt = StripReader(layers.optical.ds, layers.optical.selection.bands, win, "optical")
    try:
        sar = aligned_reader(layers.sar.ds, layers.sar.selection.bands, target, "SAR", full, win,
                             linear_power=layers.sar.units == "sar_db")
    except BaseException:
        opt.close()
        raise
    if sar.warped and report is not None:
        how = " in linear power (converted from dB and back)" if layers.sar.units == "sar_db" \
            else ""
        report.say("The SAR layer is resampled onto the optical grid on the fly, window by "
                   f"window, {getattr(sar, 'resampling', '')}{how}.")
    try:
        yield Readers(opt, sar)
    finally:
        opt.close()
        sar.close()
