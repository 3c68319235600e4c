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

from ..metadata import ClassInfo
from ..pipeline import CORE_ERRORS
from ..raster_io import RasterError, check_output_path, open_raster, raster_grid
from ..session import load_model
from .assemble import assemble
from .executors import (
    DEFAULT_RETRIES,
    SchedulerError,
    connect,
    run_in_process,
    run_on_dask,
)
from .grid import GridRequest, on_grid, output_grid
from .inputs import Scene, build_mosaic, describe_scenes, expand_inputs, footprint
from .job import (
    RegionJob,
    choose_bands,
    choose_tiling,
    choose_units,
    model_path,
    request_fingerprint,
)
from .manifest import WindowRecord, WorkFolder
from .plan import DEFAULT_WINDOW_SIZE, PlanError, RegionWindow, halo_overhead, plan_windows
from .runner import run_window

MessageFn = Callable[[str], None]


class RegionError(RuntimeError):
    """Some windows failed after their retries; the message names them."""


REGION_ERRORS: tuple[type[Exception], ...] = (*CORE_ERRORS, PlanError, SchedulerError,
                                              RegionError)


def _noop(*_a: object) -> None:
    return None


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
class _Options:
    """The request as the user made it (what the fingerprint covers)."""

    optical: list[str]
    sar: list[str]
    model: str
    optical_bands: list[int] | None
    sar_bands: list[int] | None
    optical_units: str
    sar_units: str
    grid: GridRequest
    tile_size: int | None
    overlap: int | None
    window_size: int
    confidence: bool
    output: str

    def fingerprint(self) -> str:
        request = {k: v for k, v in vars(self).items() if k != "grid"}
        request["grid"] = self.grid.to_json()
        return request_fingerprint(request, [*self.optical, *self.sar, self.model])


def _prepare(
    opts: _Options, work: WorkFolder, device: str, strict: bool, batch_size: int | None,
    info: MessageFn, warn: MessageFn,
) -> tuple[RegionJob, list[RegionWindow], set[str]]:
    """Resolve everything once: mosaics, grid, bands, units, tiling, windows, empty windows."""
    opt_scenes = describe_scenes(opts.optical, "optical")
    sar_scenes = describe_scenes(opts.sar, "SAR")
    info(f"{len(opt_scenes)} optical and {len(sar_scenes)} SAR scene(s)")
    lm = load_model(opts.model, device, strict, 1)
    meta = lm.metadata
    obands = choose_bands(opt_scenes[0], meta.optical, opts.optical_bands, "optical",
                          "OPTICAL_BANDS", info, warn)
    sbands = choose_bands(sar_scenes[0], meta.sar, opts.sar_bands, "SAR", "SAR_BANDS", info,
                          warn)
    ounits = choose_units(opt_scenes, obands, meta.optical, opts.optical_units, "optical",
                          "OPTICAL_UNITS", info, warn)
    sunits = choose_units(sar_scenes, sbands, meta.sar, opts.sar_units, "SAR", "SAR_UNITS",
                          info, warn)
    opt_mosaic = build_mosaic(opt_scenes, "optical", work.inputs)
    sar_mosaic = build_mosaic(sar_scenes, "SAR", work.inputs)
    grid = output_grid(raster_grid(open_raster(opt_mosaic, "optical"), "optical"), opts.grid)
    work.inputs.mkdir(parents=True, exist_ok=True)
    tile, ovl, fixed = choose_tiling(lm, opts.tile_size, opts.overlap)
    job = RegionJob(
        optical=on_grid(opt_mosaic, "optical", grid, work.inputs / "optical_grid.vrt", True),
        sar=on_grid(sar_mosaic, "SAR", grid, work.inputs / "sar_grid.vrt", False),
        model=str(lm.path), optical_bands=list(obands), sar_bands=list(sbands),
        optical_units=ounits, sar_units=sunits, tile_size=tile, overlap=ovl,
        multiple_of=meta.multiple_of, fixed_size=fixed, grid_width=grid.width,
        grid_height=grid.height, geotransform=list(grid.geotransform or ()),
        crs_wkt=grid.crs_wkt, window_size=opts.window_size, confidence=opts.confidence,
        work_dir=str(work.path.resolve()), batch_size=batch_size, device=device,
        strict_device=strict, nodata=meta.nodata_value,
    )
    windows = plan_windows(job.layout(), opts.window_size)
    empty = _empty_windows(job, windows, opt_scenes, sar_scenes)
    if len(empty) == len(windows):
        raise RasterError(
            "The optical and SAR scenes do not overlap anywhere in the output grid. Give scenes "
            "that cover the same area, or another extent."
        )
    info(f"Output grid {grid.width}x{grid.height} px; {len(windows)} window(s) of up to "
         f"{opts.window_size} px ({len(empty)} without data), tiles {tile} px, overlap {ovl}, "
         f"halo overhead {halo_overhead(windows):.1%}")
    return job, windows, empty


def _empty_windows(
    job: RegionJob, windows: Sequence[RegionWindow], optical: Sequence[Scene],
    sar: Sequence[Scene],
) -> set[str]:
    """Windows that no optical or no SAR scene touches: nodata, nothing to compute."""
    grid = job.grid

    def touched(bounds: tuple[float, ...], scenes: Sequence[Scene]) -> bool:
        for s in scenes:
            fp = footprint(s, grid.crs_wkt)
            if fp is None or (fp[0] < bounds[2] and fp[2] > bounds[0] and fp[1] < bounds[3]
                              and fp[3] > bounds[1]):
                return True
        return False

    out = set()
    for w in windows:
        b = grid.window(w.rect).bounds
        if not (touched(b, optical) and touched(b, sar)):
            out.add(w.name)
    return out


def _check_output(output: str, confidence: str | None, overwrite: bool) -> tuple[Path, Path | None]:
    outs = []
    for path, what in ((output, "OUTPUT"), (confidence, "OUTPUT_CONFIDENCE")):
        if not path:
            outs.append(None)
            continue
        p = Path(path)
        if p.suffix.lower() == ".vrt":
            check_output_path(str(p.with_suffix(".tif")), (), what)  # folder checks
        else:
            check_output_path(str(p), (), what)
        if p.exists() and not overwrite:
            raise RasterError(f"{what} {p} exists. Choose another name, or allow overwriting.")
        outs.append(p)
    if confidence and (outs[0].suffix.lower() == ".vrt") != (outs[1].suffix.lower() == ".vrt"):
        raise RasterError("OUTPUT and OUTPUT_CONFIDENCE must both be .tif or both be .vrt.")
    return outs[0], outs[1]  # type: ignore[return-value]


def _open_job(
    opts: _Options, work: WorkFolder, restart: bool, overwrite: bool,
    prepare: Callable[[], tuple[RegionJob, list[RegionWindow], set[str]]], info: MessageFn,
) -> tuple[RegionJob, list[RegionWindow], dict[str, WindowRecord]]:
    """The job from the work folder when it is this request's, else planned anew."""
    fp = opts.fingerprint()
    if work.exists():
        if work.fingerprint() != fp and not (overwrite or restart):
            raise RasterError(
                f"{work.path} holds a job with other inputs or options. Rerun the same "
                "command to finish that job, or allow overwriting to start this one."
            )
        if restart or work.fingerprint() != fp:
            info(f"Starting over: discarding {work.path}")
            work.remove()
            work.take_lock()
    if work.exists():
        _, job, windows = work.load()
        records = work.finished()
        info(f"Resuming the job in {work.path}: {len(records)} of {len(windows)} window(s) "
             "already finished")
        return job, windows, records
    job, windows, empty = prepare()
    work.create(fp, job, windows)
    for name in sorted(empty):
        work.record(WindowRecord(name, None, worker="plan"))
    return job, windows, work.finished()


def segment_region(
    optical: Sequence[str], sar: Sequence[str], output: str, *,
    model: str | None = None, optical_bands: Sequence[int] | None = None,
    sar_bands: Sequence[int] | None = None, optical_units: str = "auto",
    sar_units: str = "auto", grid: GridRequest | None = None, tile_size: int | None = None,
    overlap: int | None = None, batch_size: int | None = None, device: str = "auto",
    strict_device: bool = False, threads: int | None = None, confidence: str | None = None,
    window_size: int = DEFAULT_WINDOW_SIZE, scheduler: str | None = None,
    workers: int | None = None, retries: int = DEFAULT_RETRIES, overwrite: bool = False,
    restart: bool = False, keep_work: bool = False,
    progress: Callable[[float, str], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None, info: MessageFn | None = None,
    warn: MessageFn | None = None, run: Callable[..., WindowRecord] | None = None,
) -> RegionResult:
    """Segment the optical + SAR scenes (files, folders, VRTs) into one `output` on one grid.

    output: .tif (a Cloud-Optimised GeoTIFF) or .vrt (over the tiles, kept in the work folder).
    grid: CRS, resolution, extent of the output (default: the optical mosaic's grid).
    window_size: output pixels per window (square); scheduler: None runs the windows in this
    process; "local" / "local:N" a LocalCluster of worker processes; "tcp://host:port" an
    existing Dask cluster. retries: further attempts per failed window. restart: discard
    finished windows. keep_work: keep the work folder after success. run: the window runner
    (tests). Other arguments as `pipeline.segment`.
    """
    start = time.perf_counter()
    info, warn = info or _noop, warn or _noop
    is_cancelled = is_cancelled or (lambda: False)
    warnings: list[str] = []

    def warning(msg: str) -> None:
        if msg not in warnings:
            warnings.append(msg)
            warn(msg)

    out, conf = _check_output(output, confidence, overwrite)
    opts = _Options(
        expand_inputs(optical, "optical"), expand_inputs(sar, "SAR"), model_path(model),
        list(optical_bands) if optical_bands else None,
        list(sar_bands) if sar_bands else None, optical_units or "auto", sar_units or "auto",
        grid or GridRequest(), tile_size, overlap, int(window_size), conf is not None,
        str(out.resolve()),
    )
    work = WorkFolder(out)
    work.take_lock()
    try:
        job, windows, records = _open_job(
            opts, work, restart, overwrite,
            lambda: _prepare(opts, work, device, strict_device, batch_size, info, warning), info,
        )
        before = len(records)
        where = _run_windows(job, windows, records, work, scheduler, workers, threads, retries,
                             run or run_window, progress, is_cancelled, info, warning)
        meta = load_model(job.model, "cpu", False, 1).metadata
        _finish(job, windows, records, work, out, conf, meta.classes, info)
    finally:
        work.release_lock()
    if out.suffix.lower() != ".vrt" and not keep_work:
        work.remove()
    result = RegionResult(
        output=str(out), confidence=str(conf) if conf else None,
        qml=str(out.with_suffix(".qml")), windows=len(windows), done_before=before,
        ran=len(records) - before, empty=sum(1 for r in records.values() if r.empty),
        width=job.grid_width, height=job.grid_height, seconds=time.perf_counter() - start,
        where=where, warnings=warnings,
        work_dir=str(work.path) if work.path.exists() else None,
    )
    for line in result.summary():
        info(line)
    return result


def _run_windows(
    job: RegionJob, windows: Sequence[RegionWindow], records: dict[str, WindowRecord],
    work: WorkFolder, scheduler: str | None, workers: int | None, threads: int | None,
    retries: int, run: Callable[..., WindowRecord],
    progress: Callable[[float, str], None] | None, is_cancelled: Callable[[], bool],
    info: MessageFn, warn: MessageFn,
) -> str:
    """Run the unfinished windows; returns where they ran."""
    todo = [w for w in windows if w.name not in records]
    area = {w.name: w.rect.width * w.rect.height for w in windows}
    total = sum(area.values())
    done = [sum(area[n] for n in records)]

    def on_done(rec: WindowRecord) -> None:
        work.record(rec)
        records[rec.name] = rec
        for msg in rec.warnings:
            warn(msg)
        done[0] += area[rec.name]
        if progress:
            progress(done[0] / total, f"Window {rec.name} done ({len(records)}/{len(windows)})")

    if not todo:
        return "nothing left to run"
    if scheduler:
        conn = connect(scheduler, workers, threads)
        where = conn.describe()
        info(f"Running {len(todo)} window(s) on {where}")
        try:
            failures = run_on_dask(conn, run, job, todo, on_done, is_cancelled, retries)
        finally:
            conn.close()
    else:
        where = "in this process"
        info(f"Running {len(todo)} window(s) in this process")
        failures = run_in_process(run, job, todo, on_done, is_cancelled, retries, threads)
    if failures:
        names = "; ".join(f.describe() for f in failures[:10])
        more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
        raise RegionError(
            f"{len(failures)} of {len(todo)} window(s) failed: {names}{more}. The finished "
            f"windows are kept in {work.path}; rerun the same command to retry only the "
            "missing ones. No output was written."
        )
    return where


def _finish(
    job: RegionJob, windows: Sequence[RegionWindow], records: dict[str, WindowRecord],
    work: WorkFolder, out: Path, conf: Path | None, classes: Sequence[ClassInfo],
    info: MessageFn,
) -> None:
    recs = [records[w.name] for w in windows if not records[w.name].empty]
    tiles = [work.path / str(r.tile) for r in recs]
    conf_tiles = [work.path / str(r.confidence) for r in recs] if conf is not None else []
    if conf is not None and any(r.confidence is None for r in recs):
        raise RegionError("Some tiles have no confidence; rerun with restart to redo them.")
    work.remove_strays({str(r.tile) for r in recs} | {str(r.confidence) for r in recs})
    info(f"Assembling {len(tiles)} tile(s) into {out}")
    assemble(job.grid, classes, job.nodata, tiles, out, conf_tiles, conf)
