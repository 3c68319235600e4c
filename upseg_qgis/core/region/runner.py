"""`run_window(job, window) -> WindowRecord`: one window through the single-scene code.

The window's halo (the global tiles touching it) goes through `pipeline.segment` exactly as a
single scene would, with the bands, units and tiling the job resolved; the window's own
rectangle is then cut out into its tile, written under a temporary name and renamed, so a tile
on disk is always complete. Each process (a Dask worker, or the submitting process) opens the
ONNX Runtime session once and keeps it for every window it runs.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from osgeo import gdal

from ..raster_io import RasterError, Window, gdal_call
from ..session import LoadedModel, load_model
from ..styling import qml_path
from .job import RegionJob
from .manifest import WindowRecord
from .plan import RegionWindow, rect_in_halo

_MODELS: dict[tuple[object, ...], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()
# Said by every window without data; the job reports empty areas once, as a whole.
_QUIET = ("No pixel has data in both layers",)


def worker_model(job: RegionJob, threads: int | None) -> LoadedModel:
    """This process's session for the job's model (opened on first use, then kept)."""
    from ..pipeline import cpu_threading

    intra = cpu_threading(threads, None)[1]
    key = (job.model, job.device, job.strict_device, intra)
    with _MODELS_LOCK:
        lm = _MODELS.get(key)
        if lm is None:
            lm = load_model(job.model, job.device, job.strict_device, intra)
            _MODELS[key] = lm
    return lm


def sessions_opened() -> int:
    """How many sessions this process holds (tests check one per worker)."""
    return len(_MODELS)


def run_window(
    job: RegionJob | dict[str, object],
    window: RegionWindow | dict[str, object],
    threads: int | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> WindowRecord:
    """Segment one window into `<work>/tiles/<name>.tif` (and its confidence)."""
    from ..pipeline import segment

    job = job if isinstance(job, RegionJob) else RegionJob.from_json(job)
    window = window if isinstance(window, RegionWindow) else RegionWindow.from_json(window)
    start = time.perf_counter()
    tiles = Path(job.work_dir) / "tiles"
    halo = tiles / f"{window.name}.halo.tif"
    halo_conf = tiles / f"{window.name}.halo_conf.tif" if job.confidence else None
    warnings: list[str] = []
    expected = job.grid.window(window.halo)
    try:
        result = segment(
            job.optical, job.sar, str(halo), model=job.model,
            optical_bands=job.optical_bands, sar_bands=job.sar_bands,
            optical_units=job.optical_units, sar_units=job.sar_units,
            extent=expected.bounds, tile_size=job.tile_size, overlap=job.overlap,
            batch_size=job.batch_size, threads=threads,
            confidence=str(halo_conf) if halo_conf else None,
            is_cancelled=is_cancelled, warn=warnings.append,
            loaded_model=worker_model(job, threads),
        )
        if (result.width, result.height) != (expected.width, expected.height) or not all(
            abs(a - b) <= 1e-6 * abs(expected.geotransform[1])
            for a, b in zip(result.geotransform or (), expected.geotransform or (), strict=True)
        ):
            raise RasterError(
                f"Window {window.name} came out on another grid than planned (an internal "
                "error; please report it)."
            )
        inner = rect_in_halo(window)
        tile = tiles / f"{window.name}.tif"
        crop(halo, tile, inner)
        conf_tile = None
        if halo_conf is not None:
            conf_tile = tiles / f"{window.name}_conf.tif"
            crop(halo_conf, conf_tile, inner)
    finally:
        for p in (halo, halo_conf):
            if p is not None:
                _remove_output(p)
    return WindowRecord(
        name=window.name,
        tile=f"tiles/{tile.name}",
        confidence=f"tiles/{conf_tile.name}" if conf_tile else None,
        seconds=round(time.perf_counter() - start, 3),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        warnings=tuple(w for w in warnings if not w.startswith(_QUIET)),
    )


def crop(src: Path, dst: Path, win: Window) -> None:
    """`win` of `src` into `dst` (tiled, DEFLATE), written aside and renamed into place."""
    tmp = dst.with_name(dst.stem + ".partial.tif")
    opts = gdal.TranslateOptions(
        format="GTiff",
        srcWin=[win.xoff, win.yoff, win.width, win.height],
        creationOptions=["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"],
    )
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "NO")
    try:
        ds = gdal_call(f"Writing the tile {dst.name}", gdal.Translate, str(tmp), str(src),
                       options=opts)
        ds = None  # noqa: F841 - closing writes it
        os.replace(tmp, dst)
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
        with suppress(FileNotFoundError):
            tmp.unlink()


def _remove_output(path: Path) -> None:
    for p in (path, Path(str(path) + ".aux.xml"), qml_path(path)):
        with suppress(FileNotFoundError):
            p.unlink()
