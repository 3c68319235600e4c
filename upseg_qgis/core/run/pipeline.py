"""`segment()`: optical + SAR rasters -> class raster (+ confidence), tiled and streamed.

The run is a sequence of named stages, each in its own module and tested on its own:
1. load the model (`session`): its metadata decides bands, units and tiling;
2. open the layers, choose bands and units (`inputs.open_layers`);
3. plan the output grid and the tiles (`plan`);
4. open and align the readers on the output grid (`inputs.open_readers`, `warping`);
5. normalise, infer, blend and write, streamed chunk by chunk (`streaming.stream`: `chunks`,
   `inference`, `blend`, `writing`);
6. commit all outputs together (`writing`, `commit`).
No QGIS here: callers pass callbacks (`reporting.Reporter`). Every failure raises one of
CORE_ERRORS (or CancelledError), and leaves no output file behind; every dataset, reader and
helper thread is released on every path.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from ..contract.metadata import MetadataError
from ..engine.inference import InferenceError
from ..engine.session import DeviceError, LoadedModel, ModelError, load_model
from ..engine.tta import runs_per_tile
from ..inputs.bands import BandSelectionError
from ..inputs.layers import Layers, open_layers, open_readers
from ..inputs.units import UnitsError
from ..raster import commit
from ..raster.gdal_errors import RasterError
from ..raster.writing import OutputPaths, OutputWriter, check_output_path
from .defaults import CPU, cpu_threading, prefetch_or_default
from .options import InputOptions, RuntimeOptions, TilingOptions
from .plan import TilePlan, plan_run
from .reporting import CancelledError, Clock, Reporter
from .result import SegmentResult
from .streaming import StreamSetup, StreamStats, stream
from .tiling import TilingError

__all__ = ["CORE_ERRORS", "CancelledError", "InputOptions", "Reporter", "RuntimeOptions",
           "SegmentResult", "TilingOptions", "output_exists", "segment"]

# What segment() raises for bad input, besides CancelledError; each message says what to do.
CORE_ERRORS: tuple[type[Exception], ...] = (
    MetadataError,
    RasterError,
    BandSelectionError,
    UnitsError,
    TilingError,
    ModelError,
    DeviceError,
    InferenceError,
)


def segment(
    optical: str,
    sar: str,
    output: str,
    *,
    model: str | None = None,
    confidence: str | None = None,
    inputs: InputOptions | None = None,
    tiling: TilingOptions | None = None,
    runtime: RuntimeOptions | None = None,
    report: Reporter | None = None,
    loaded_model: LoadedModel | None = None,
) -> SegmentResult:
    """Segment `optical` + `sar` (GDAL raster paths) into `output` (a GeoTIFF).

    model: an .onnx file (None: the embedded default); confidence: optional GeoTIFF path for
    the max class probability (float32); loaded_model: an already opened model (skips `model`
    and the device/threads of `runtime`). The options are documented in `options`.
    """
    inputs, tiling = inputs or InputOptions(), tiling or TilingOptions()
    runtime, report = runtime or RuntimeOptions(), report or Reporter()
    clock = Clock()
    paths = output_paths(output, confidence, (optical, sar), report)
    runs, intra = cpu_threading(runtime.threads, runtime.parallel_runs)
    lm = loaded_model or load_model(model, runtime.device, runtime.strict_device, intra)
    describe_model(lm, report)
    clock.lap("load")
    with ExitStack() as stack:
        layers = stack.enter_context(open_layers(optical, sar, lm.metadata, inputs, report))
        report.check("before the first tile")
        plan = plan_stage(layers, lm, tiling, report)
        readers = stack.enter_context(open_readers(layers, report=report))
        clock.lap("read")
        meta = lm.metadata
        writer = stack.enter_context(
            OutputWriter(paths, layers.grid, meta.nodata_value, meta.classes))
        clock.lap("write")
        prefetch = prefetch_or_default(runtime.prefetch)
        setup = StreamSetup(prefetch, runs if lm.provider == CPU else 1,
                            paths.confidence is not None, tta=runtime.tta)
        if runtime.tta != "none":
            report.say(f"Test-time augmentation: {runtime.tta} ({runs_per_tile(runtime.tta)} "
                       "model runs per tile, logits averaged)")
        stats = stream(lm, layers, readers, plan, writer, setup, clock, report)
        clock.restart()
        writer.commit()
        clock.lap("write")
    return make_result(lm, layers, plan, paths, setup, stats, clock, report,
                       sar_resampled=readers.sar.warped)


def output_paths(output: str, confidence: str | None, inputs: tuple[str, str],
                 report: Reporter) -> OutputPaths:
    """Check the output paths before any work; remove partial files of dead earlier runs."""
    out = check_output_path(output, inputs, "OUTPUT")
    conf = None
    if confidence:
        conf = check_output_path(confidence, (*inputs, output), "OUTPUT_CONFIDENCE")
    for path in (out, conf):
        if path is not None:
            stale = commit.remove_stale_partials(path)
            if stale:
                report.say(f"Removed {len(stale)} file(s) an interrupted earlier run left "
                           f"behind: {', '.join(p.name for p in stale)}")
    return OutputPaths(out, conf)


def describe_model(lm: LoadedModel, report: Reporter) -> None:
    meta = lm.metadata
    for w in lm.warnings:
        report.warning(w)
    report.say(f"Model: {meta.name} {meta.version} ({meta.variant}) from {lm.path}")
    report.say(f"Execution provider: {lm.provider} (requested {', '.join(lm.requested)})")


def plan_stage(layers: Layers, lm: LoadedModel, tiling: TilingOptions,
               report: Reporter) -> TilePlan:
    grid = layers.grid
    plan, warnings = plan_run(grid.width, grid.height, lm.metadata, lm.provider, lm.static_hw,
                              tiling)
    for w in warnings:
        report.warning(w)
    for n in plan.notes:
        report.say(n)
    report.say(plan.describe())
    return plan


def make_result(lm: LoadedModel, layers: Layers, plan: TilePlan, paths: OutputPaths,
                setup: StreamSetup, stats: StreamStats, clock: Clock, report: Reporter,
                sar_resampled: bool) -> SegmentResult:
    grid, lay = layers.grid, plan.layout
    if stats.valid_pixels == 0:
        report.warning(
            "No pixel has data in both layers: the output is all nodata. Check the layers' "
            "nodata values and that they cover the same area.")
    result = SegmentResult(
        output=str(paths.classes),
        confidence=str(paths.confidence) if paths.confidence else None,
        qml=str(paths.classes.with_suffix(".qml")),
        provider=lm.provider,
        providers=list(lm.providers),
        tile_count=lay.count,
        batch_count=stats.batches,
        tile_size=(lay.tile_h, lay.tile_w),
        overlap=lay.overlap,
        batch_size=plan.batch,
        width=grid.width,
        height=grid.height,
        geotransform=grid.geotransform,
        crs_wkt=grid.crs_wkt,
        optical_bands=layers.optical.selection.bands,
        sar_bands=layers.sar.selection.bands,
        optical_units=layers.optical.units,
        sar_units=layers.sar.units,
        sar_resampled=sar_resampled,
        valid_fraction=stats.valid_pixels / float(grid.width * grid.height),
        seconds=clock.elapsed(),
        classes=lm.metadata.classes,
        timings=clock.rounded(),
        warnings=list(report.warnings),
        prefetch=setup.prefetch,
        input_wait=round(stats.input_wait, 4),
        threads=lm.threads,
        parallel_runs=setup.runs,
    )
    for line in result.summary():
        report.say(line)
    return result


def output_exists(path: str | Path) -> bool:
    """True when `path` or any partial file of it is on disk (tests use this)."""
    p = Path(path)
    return p.exists() or bool(commit.partial_files(p))
