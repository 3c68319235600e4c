"""`segment_region()`: many scenes (or one huge mosaic) -> one styled class raster, resumable.

Plan (once, on this machine): scenes -> mosaics -> output grid -> bands, units, tiling -> windows,
stored in the work folder beside the output. Run: the windows not yet finished, in this process
or on Dask, each recorded as it finishes. Finish: the tiles assembled into the final product,
which appears only when every window has succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.session import load_model
from ..raster import commit
from ..raster.gdal_errors import RasterError
from ..raster.grid import raster_grid
from ..raster.reading import open_raster
from ..raster.writing import check_output_path
from ..run.options import InputOptions, RuntimeOptions, TilingOptions
from ..run.pipeline import CORE_ERRORS
from ..run.reporting import Reporter
from .assemble import assemble
from .executors import SchedulerError, connect, run_in_process, run_on_dask
from .grid import GridRequest, on_grid, output_grid
from .inputs import Scene, build_mosaic, describe_scenes, expand_inputs, footprint
from .job import (
    RegionJob,
    check_one_offset,
    choose_inputs,
    choose_tiling,
    model_path,
    request_fingerprint,
)
from .manifest import WindowRecord, WorkFolder
from .options import RegionOptions
from .plan import PlanError, RegionWindow, halo_overhead, plan_windows
from .runner import run_window


class RegionError(RuntimeError):
    """Some windows failed after their retries; the message names them."""


REGION_ERRORS: tuple[type[Exception], ...] = (*CORE_ERRORS, PlanError, SchedulerError,
                                              RegionError)


@dataclass
class RegionResult:
    output: str
    confidence: str | None
    qml: str
    windows: int
    done_before: int
    ran: int
    empty: int
    width: int
    height: int
    seconds: float
    where: str
    warnings: list[str] = field(default_factory=list)
    work_dir: str | None = None

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)

    def summary(self) -> list[str]:
        return [
            f"Output: {self.width}x{self.height} px in {self.windows} window(s): {self.ran} run "
            f"now, {self.done_before} finished before, {self.empty} without data",
            f"Time: {self.seconds:.2f} s, {self.megapixels_per_second:.3f} Mpx/s ({self.where})",
        ]


@dataclass
class _Request:
    """The request as the user made it: what the fingerprint covers."""

    optical: list[str]
    sar: list[str]
    model: str
    inputs: InputOptions
    tile_size: int | None
    overlap: int | None
    grid: GridRequest
    window_size: int
    confidence: bool
    output: str
    tta: str = "none"  # changes the map, so part of the fingerprint

    def fingerprint(self) -> str:
        doc = {k: v for k, v in vars(self).items() if k not in ("grid", "inputs", "tta")}
        if self.tta != "none":  # jobs started before TTA was honoured keep their fingerprint
            doc["tta"] = self.tta
        doc["grid"] = self.grid.to_json()
        doc["inputs"] = {k: list(v) if isinstance(v, tuple | list) else v
                         for k, v in vars(self.inputs).items()}
        return request_fingerprint(doc, [*self.optical, *self.sar, self.model])


def _prepare(req: _Request, work: WorkFolder, runtime: RuntimeOptions, batch: int | None,
             report: Reporter) -> tuple[RegionJob, list[RegionWindow], set[str]]:
    """Resolve everything once: mosaics, grid, bands, units, tiling, windows, empty windows."""
    opt_scenes = describe_scenes(req.optical, "optical")
    sar_scenes = describe_scenes(req.sar, "SAR")
    report.say(f"{len(opt_scenes)} optical and {len(sar_scenes)} SAR scene(s)")
    lm = load_model(req.model, runtime.device, runtime.strict_device, 1)
    meta, opts = lm.metadata, req.inputs
    opt_mosaic = build_mosaic(opt_scenes, "optical", work.inputs)
    sar_mosaic = build_mosaic(sar_scenes, "SAR", work.inputs)
    obands, ounits = choose_inputs(opt_mosaic, meta.optical, opts.optical_bands,
                                   opts.optical_units, "optical", report)
    check_one_offset(opt_scenes, obands)
    # SAR units are checked scene by scene (dB beside linear is a silent error); optical ones
    # are not: a dark integer scene fits an 8-bit rendering as well as reflectance x 10000.
    sbands, sunits = choose_inputs(sar_mosaic, meta.sar, opts.sar_bands, opts.sar_units, "SAR",
                                   report, sar_scenes)
    grid = output_grid(raster_grid(open_raster(opt_mosaic, "optical"), "optical"), req.grid)
    work.inputs.mkdir(parents=True, exist_ok=True)
    tile, ovl, fixed = choose_tiling(lm, req.tile_size, req.overlap, report)
    job = RegionJob(
        optical=on_grid(opt_mosaic, "optical", grid, work.inputs / "optical_grid.vrt", True),
        sar=on_grid(sar_mosaic, "SAR", grid, work.inputs / "sar_grid.vrt", False),
        model=str(lm.path), optical_bands=list(obands), sar_bands=list(sbands),
        optical_units=ounits, sar_units=sunits, tile_size=tile, overlap=ovl,
        multiple_of=meta.multiple_of, fixed_size=fixed, grid_width=grid.width,
        grid_height=grid.height, geotransform=list(grid.geotransform or ()),
        crs_wkt=grid.crs_wkt, window_size=req.window_size, confidence=req.confidence,
        work_dir=str(work.path.resolve()), batch_size=batch, device=runtime.device,
        strict_device=runtime.strict_device, nodata=meta.nodata_value, tta=runtime.tta,
        parallel_runs=runtime.parallel_runs, prefetch=runtime.prefetch,
    )
    windows = plan_windows(job.layout(), req.window_size)
    empty = _empty_windows(job, windows, opt_scenes, sar_scenes)
    if len(empty) == len(windows):
        raise RasterError(
            "The optical and SAR scenes do not overlap anywhere in the output grid. Give scenes "
            "that cover the same area, or another extent.")
    report.say(f"Output grid {grid.width}x{grid.height} px; {len(windows)} window(s) of up to "
               f"{req.window_size} px ({len(empty)} without data), tiles {tile} px, overlap "
               f"{ovl}, halo overhead {halo_overhead(windows):.1%}")
    return job, windows, empty


def _empty_windows(job: RegionJob, windows: Sequence[RegionWindow],
                   optical: Sequence[Scene], sar: Sequence[Scene]) -> set[str]:
    """Windows that no optical or no SAR scene touches: nodata, nothing to compute."""
    grid = job.grid
    prints = [[footprint(s, grid.crs_wkt) for s in scenes] for scenes in (optical, sar)]

    def touched(b: tuple[float, ...], fps: list[tuple[float, ...] | None]) -> bool:
        return any(fp is None or (fp[0] < b[2] and fp[2] > b[0] and fp[1] < b[3]
                                  and fp[3] > b[1]) for fp in fps)

    return {w.name for w in windows
            if not all(touched(grid.window(w.rect).bounds, fps) for fps in prints)}


def _check_output(output: str, confidence: str | None, overwrite: bool
                  ) -> tuple[Path, Path | None]:
    outs: list[Path | None] = []
    for path, what in ((output, "OUTPUT"), (confidence, "OUTPUT_CONFIDENCE")):
        if not path:
            outs.append(None)
            continue
        p = Path(path)
        if p.suffix.lower() == ".vrt":
            check_output_path(str(p.with_suffix(".tif")), (), what)  # the folder checks
        else:
            check_output_path(str(p), (), what)
        if p.exists() and not overwrite:
            raise RasterError(f"{what} {p} exists. Choose another name, or allow overwriting.")
        outs.append(p)
    out, conf = outs
    assert out is not None
    if conf is not None and (out.suffix.lower() == ".vrt") != (conf.suffix.lower() == ".vrt"):
        raise RasterError("OUTPUT and OUTPUT_CONFIDENCE must both be .tif or both be .vrt.")
    return out, conf


@dataclass
class _State:
    """A job being worked on: its plan and the windows finished so far."""

    job: RegionJob
    windows: list[RegionWindow]
    records: dict[str, WindowRecord]
    work: WorkFolder
    report: Reporter


def _open_job(req: _Request, work: WorkFolder, region: RegionOptions,
              prepare: Callable[[WorkFolder], tuple[RegionJob, list[RegionWindow], set[str]]],
              report: Reporter) -> _State:
    """The job of the newest generation when it is this request's, else planned anew in a new
    generation (the old one stays until the new output is in place: a .vrt reads its tiles)."""
    fp = req.fingerprint()
    if work.exists():
        other = work.fingerprint() != fp
        if other and not (region.overwrite or region.restart):
            raise RasterError(
                f"{work.root} holds a job with other inputs or options. Rerun the same "
                "command to finish that job, or allow overwriting to start this one.")
        if other or region.restart:
            old, work = work, work.next_generation()
            report.say(f"Starting over in {work.path}; {old.path} stays until the new output "
                       "is in place")
    if work.exists():
        _, job, windows = work.load()
        records = work.finished()
        report.say(f"Resuming the job in {work.path}: {len(records)} of {len(windows)} "
                   "window(s) already finished")
        return _State(job, windows, records, work, report)
    job, windows, empty = prepare(work)
    work.create(fp, job, windows)
    for name in sorted(empty):
        work.record(WindowRecord(name, None, worker="plan"))
    return _State(job, windows, work.finished(), work, report)


def _tidy(work: WorkFolder, products: Sequence[Path]) -> None:
    """Remove the generations neither `work` nor any product uses (with the lock held).
    Commits that dead runs left half done are completed first: they decide what a product
    reads."""
    for p in products:
        commit.remove_stale_partials(p)
    used = work.used_by(products)
    if used is not None:
        work.remove_generations(used | {work.generation})


def segment_region(
    optical: Sequence[str], sar: Sequence[str], output: str, *,
    model: str | None = None, confidence: str | None = None,
    inputs: InputOptions | None = None, tiling: TilingOptions | None = None,
    runtime: RuntimeOptions | None = None, grid: GridRequest | None = None,
    region: RegionOptions | None = None, report: Reporter | None = None,
    run: Callable[..., WindowRecord] | None = None,
) -> RegionResult:
    """Segment optical + SAR scenes (files, folders, VRTs) into one `output` on one grid.

    output: .tif (a Cloud-Optimised GeoTIFF) or .vrt (over the tiles, kept in the work folder).
    inputs, tiling, runtime: as for `pipeline.segment` (the extent goes in `grid`); grid: the
    output grid (default: the optical mosaic's); region: windows, scheduler, retries, reruns
    (`RegionOptions`); run: the window runner (tests).
    """
    start = time.perf_counter()
    inputs, tiling = inputs or InputOptions(), tiling or TilingOptions()
    runtime, region = runtime or RuntimeOptions(), region or RegionOptions()
    report = report or Reporter()
    if inputs.extent is not None:
        raise PlanError("A region's extent is part of its output grid: give it in `grid`.")
    out, conf = _check_output(output, confidence, region.overwrite)
    req = _Request(expand_inputs(optical, "optical"), expand_inputs(sar, "SAR"),
                   model_path(model), inputs, tiling.tile_size, tiling.overlap,
                   grid or GridRequest(), int(region.window_size), conf is not None,
                   str(out.resolve()), runtime.tta)
    work = WorkFolder(out)
    products = [p for p in (out, conf) if p is not None]
    work.take_lock()
    try:
        _tidy(work, products)
        st = _open_job(req, work, region,
                       lambda w: _prepare(req, w, runtime, tiling.batch_size, report), report)
        before = len(st.records)
        where = _run_windows(st, region, runtime.threads, run or run_window)
        _finish(st, out, conf)
        _tidy(st.work, products)  # the old generation's tiles, once nothing reads them
    finally:
        work.release_lock()
    if out.suffix.lower() != ".vrt" and not region.keep_work:
        work.remove()
    result = RegionResult(
        output=str(out), confidence=str(conf) if conf else None,
        qml=str(out.with_suffix(".qml")), windows=len(st.windows), done_before=before,
        ran=len(st.records) - before, empty=sum(r.empty for r in st.records.values()),
        width=st.job.grid_width, height=st.job.grid_height,
        seconds=time.perf_counter() - start, where=where, warnings=list(report.warnings),
        work_dir=str(st.work.path) if st.work.path.exists() else None,
    )
    for line in result.summary():
        report.say(line)
    return result


def _run_windows(st: _State, region: RegionOptions, threads: int | None,
                 run: Callable[..., WindowRecord]) -> str:
    """Run the unfinished windows; returns where they ran."""
    todo = [w for w in st.windows if w.name not in st.records]
    area = {w.name: w.rect.width * w.rect.height for w in st.windows}
    done = [sum(area[n] for n in st.records)]
    report = st.report

    def on_done(rec: WindowRecord) -> None:
        st.work.record(rec)
        st.records[rec.name] = rec
        for msg in rec.warnings:
            if msg not in report.warnings:  # every worker says it: once is enough
                report.warning(msg)
        done[0] += area[rec.name]
        report.step(done[0] / sum(area.values()),
                    f"Window {rec.name} done ({len(st.records)}/{len(st.windows)})")

    if not todo:
        return "nothing left to run"
    if region.scheduler:
        conn = connect(region.scheduler, region.workers, threads)
        where = conn.describe()
        report.say(f"Running {len(todo)} window(s) on {where}")
        try:
            failures = run_on_dask(conn, run, st.job, todo, on_done, report.cancelled,
                                   region.retries)
        finally:
            conn.close()
    else:
        where = "in this process"
        report.say(f"Running {len(todo)} window(s) in this process")
        failures = run_in_process(run, st.job, todo, on_done, report.cancelled, region.retries,
                                  threads)
    if failures:
        names = "; ".join(f.describe() for f in failures[:10])
        more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
        raise RegionError(
            f"{len(failures)} of {len(todo)} window(s) failed: {names}{more}. The finished "
            f"windows are kept in {st.work.path}; rerun the same command to retry only the "
            "missing ones. No output was written.")
    return where


def _finish(st: _State, out: Path, conf: Path | None) -> None:
    recs = [st.records[w.name] for w in st.windows if not st.records[w.name].empty]
    if conf is not None and any(r.confidence is None for r in recs):
        raise RegionError("Some tiles have no confidence; rerun with restart to redo them.")
    st.work.remove_strays({str(r.tile) for r in recs} | {str(r.confidence) for r in recs})
    tiles = [st.work.path / str(r.tile) for r in recs]
    conf_tiles = [st.work.path / str(r.confidence) for r in recs] if conf is not None else []
    st.report.say(f"Assembling {len(tiles)} tile(s) into {out}")
    meta = load_model(st.job.model, "cpu", False, 1).metadata
    assemble(st.job.grid, meta.classes, st.job.nodata, tiles, out, conf_tiles, conf)
