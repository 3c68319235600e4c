"""`segment()`: optical + SAR rasters -> class raster (+ confidence), tiled and streamed.

Ties the core together: the model and its metadata (session), the output grid and the SAR
layer aligned onto it (raster_io), band choice (bands), unit detection (units), tiling and
blending (tiling), the styled output (styling). Callers pass `progress(fraction, message)`,
`is_cancelled()` and message callbacks; no QGIS here. Every failure raises one of CORE_ERRORS
(or CancelledError) and leaves no output file behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bands import BandSelectionError, select_bands
from .metadata import ClassInfo, MetadataError
from .raster_io import (
    CONFIDENCE_NODATA,
    OutputWriter,
    RasterError,
    StripReader,
    aligned_reader,
    band_data_types,
    band_labels,
    check_output_path,
    open_raster,
    raster_grid,
    sample_values,
    window_for_extent,
)
from .session import DeviceError, LoadedModel, ModelError, load_model
from .styling import category_names, colour_table, write_qml
from .tiling import StripAccumulator, TilingError, blend_weight, plan_tiles
from .units import UnitsError, ValueStats, resolve_units

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]
MessageFn = Callable[[str], None]

DEFAULT_BATCH_SIZE = 4
STAGES = ("load", "read", "warp", "normalise", "inference", "blend", "write")


class CancelledError(RuntimeError):
    """The caller cancelled; the partial output has been removed."""


# What segment() raises for bad input, besides CancelledError; each message says what to do.
CORE_ERRORS: tuple[type[Exception], ...] = (
    MetadataError,
    RasterError,
    BandSelectionError,
    UnitsError,
    TilingError,
    ModelError,
    DeviceError,
)


@dataclass
class SegmentResult:
    output: str
    confidence: str | None
    qml: str
    provider: str  # the execution provider that actually ran
    providers: list[str]
    tile_count: int
    batch_count: int
    tile_size: tuple[int, int]
    overlap: int
    batch_size: int
    width: int
    height: int
    geotransform: tuple[float, ...] | None
    crs_wkt: str
    optical_bands: tuple[int, ...]
    sar_bands: tuple[int, ...]
    optical_units: str
    sar_units: str
    sar_resampled: bool
    valid_fraction: float
    seconds: float
    classes: tuple[ClassInfo, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)

    def summary(self) -> list[str]:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items())
        return [
            f"Execution provider: {self.provider}",
            f"Tiles: {self.tile_count} of {self.tile_size[0]}x{self.tile_size[1]} px, overlap "
            f"{self.overlap}, {self.batch_count} batch(es) of up to {self.batch_size}",
            f"Output: {self.width}x{self.height} px, {self.valid_fraction:.1%} with data",
            f"Time: {self.seconds:.2f} s, {self.megapixels_per_second:.3f} Mpx/s ({stages})",
        ]


class _Clock:
    def __init__(self) -> None:
        self.totals = {s: 0.0 for s in STAGES}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.totals[stage] += now - self._t
        self._t = now


def _noop(*_args: object) -> None:
    return None


def _title(role: str) -> str:
    return role[:1].upper() + role[1:]


def segment(
    optical: str,
    sar: str,
    output: str,
    *,
    model: str | None = None,
    optical_bands: Sequence[int] | None = None,
    sar_bands: Sequence[int] | None = None,
    optical_units: str = "auto",
    sar_units: str = "auto",
    extent: tuple[float, float, float, float] | None = None,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    strict_device: bool = False,
    threads: int | None = None,
    confidence: str | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    info: MessageFn | None = None,
    warn: MessageFn | None = None,
    loaded_model: LoadedModel | None = None,
) -> SegmentResult:
    """Segment `optical` + `sar` (GDAL raster paths) into `output` (a GeoTIFF).

    extent: (xmin, ymin, xmax, ymax) in the optical layer's CRS; None = the whole layer.
    tile_size, overlap, batch_size: None = the model's metadata (tiling.*).
    device: auto, cuda, tensorrt or cpu; strict_device: DeviceError instead of CPU fallback.
    confidence: optional GeoTIFF path for the max class probability (float32).
    loaded_model: an already opened model (skips `model`, `device`, `threads`).
    """
    progress = progress or _noop
    is_cancelled = is_cancelled or (lambda: False)
    info = info or _noop
    warnings: list[str] = []

    def warning(msg: str) -> None:
        warnings.append(msg)
        (warn or _noop)(msg)

    start = time.perf_counter()
    clock = _Clock()
    out_path = check_output_path(output, (optical, sar), "OUTPUT")
    conf_path = None
    if confidence:
        conf_path = check_output_path(confidence, (optical, sar, output), "OUTPUT_CONFIDENCE")

    # The model first: its metadata decides bands, units and tiling.
    lm = loaded_model or load_model(model, device, strict_device, threads)
    meta = lm.metadata
    for w in lm.warnings:
        warning(w)
    info(f"Model: {meta.name} {meta.version} ({meta.variant}) from {lm.path}")
    info(f"Execution provider: {lm.provider} (requested {', '.join(lm.requested)})")
    clock.lap("load")

    opt_ds = open_raster(optical, "optical")
    sar_ds = open_raster(sar, "SAR")
    opt_grid = raster_grid(opt_ds, "optical")
    window = window_for_extent(opt_grid, extent)
    grid = opt_grid.window(window)
    width, height = grid.width, grid.height

    selections = {}
    for role, ds, spec, req, param in (
        ("optical", opt_ds, meta.optical, optical_bands, "OPTICAL_BANDS"),
        ("SAR", sar_ds, meta.sar, sar_bands, "SAR_BANDS"),
    ):
        labels = band_labels(ds)
        sel = select_bands(labels, spec, req, role, param)
        for w in sel.warnings:
            warning(w)
        info(sel.describe(_title(role), labels))
        selections[role] = sel
    opt_sel, sar_sel = selections["optical"], selections["SAR"]

    units = {}
    for role, ds, spec, sel, req, param in (
        ("optical", opt_ds, meta.optical, opt_sel, optical_units, "OPTICAL_UNITS"),
        ("SAR", sar_ds, meta.sar, sar_sel, sar_units, "SAR_UNITS"),
    ):
        stats = ValueStats.of(
            sample_values(ds, sel.bands, role), band_data_types(ds, sel.bands)[0]
        )
        u, how, notes = resolve_units(req, spec, stats, role, param)
        for w in notes:
            warning(w)
        conv = spec.conversion_for(u)
        if u == spec.units:
            how_model = "the model's own units"
        else:
            how_model = f"converted to the model's {spec.units}" + (
                f": {conv.description}" if conv.description else ""
            )
        info(f"{_title(role)} units: {u} ({how}); {how_model}")
        units[role] = u
    clock.lap("read")

    opt_reader = StripReader(opt_ds, opt_sel.bands, window, "optical")
    sar_reader = aligned_reader(sar_ds, sar_sel.bands, grid, "SAR", opt_grid, window)
    if sar_reader.warped:
        info("The SAR layer is resampled onto the optical grid on the fly (warped VRT).")

    fixed = lm.static_hw
    if fixed and fixed[0] != fixed[1]:
        raise ModelError(f"The model has a fixed non-square input size {fixed}; re-export it.")
    tiling_raw = meta.raw.get("tiling", {}) if isinstance(meta.raw, dict) else {}
    tile = fixed[0] if fixed else int(tile_size or meta.tile_size)
    if fixed and tile_size and tile_size != fixed[0]:
        warning(f"The model only takes {fixed[0]}x{fixed[1]} tiles; TILE_SIZE is ignored.")
    ovl = int(meta.overlap if overlap is None else overlap)
    batch = int(batch_size or tiling_raw.get("batch_size", DEFAULT_BATCH_SIZE))
    if batch < 1:
        raise TilingError(f"BATCH_SIZE must be at least 1, got {batch}.")
    layout, notes = plan_tiles(width, height, tile, ovl, meta.multiple_of, bool(fixed))
    for n in notes:
        info(n)
    th, tw = layout.tile_h, layout.tile_w
    weight = blend_weight(th, tw, layout.overlap)
    n_batches = -(-layout.count // batch)
    info(
        f"{width}x{height} px in {layout.count} tile(s) of {th}x{tw} px, overlap "
        f"{layout.overlap}, {n_batches} batch(es) of up to {batch}"
    )

    values = np.array([c.value for c in meta.classes], dtype=np.uint8)
    acc = StripAccumulator(meta.num_classes, width, height)
    pad_w = max(width, layout.xs[-1] + tw)
    queue: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []
    done = 0
    batches_done = 0
    valid_pixels = 0
    clock.lap("read")

    writer = OutputWriter(
        out_path,
        grid,
        meta.nodata_value,
        colour_table(meta.classes),
        category_names(meta.classes),
        conf_path,
    )

    def flush(until: int) -> None:
        nonlocal valid_pixels
        popped = acc.pop_until(until)
        if popped is None:
            return
        first, blended, valid = popped
        classes = values[np.argmax(blended, axis=0)]
        classes[~valid] = meta.nodata_value
        conf = None
        if conf_path is not None:
            # Max softmax probability = 1 / sum(exp(logit - max logit)).
            top = blended.max(axis=0)
            conf = (1.0 / np.exp(blended - top[np.newaxis]).sum(axis=0)).astype(np.float32)
            conf[~valid] = CONFIDENCE_NODATA
        valid_pixels += int(valid.sum())
        clock.lap("blend")
        writer.write_rows(first, classes, conf)
        clock.lap("write")

    def run_batch(items: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]) -> None:
        nonlocal done, batches_done
        opt_b = np.stack([it[2] for it in items])
        sar_b = np.stack([it[3] for it in items])
        clock.lap("normalise")
        logits = lm.run(opt_b, sar_b)
        clock.lap("inference")
        if logits.shape != (len(items), meta.num_classes, th, tw):
            raise ModelError(
                f"The model returned logits of shape {logits.shape}, expected "
                f"{(len(items), meta.num_classes, th, tw)}. Re-export the model."
            )
        for (y, x, _o, _s, valid), lg in zip(items, logits, strict=True):
            acc.add(lg, weight, valid, y, x)
        clock.lap("blend")
        done += len(items)
        batches_done += 1
        progress(done / layout.count, f"Tile batch {batches_done}/{n_batches}")

    try:
        if is_cancelled():
            raise CancelledError("Cancelled before the first tile.")
        for ri, y in enumerate(layout.ys):
            h = min(th, height - y)
            opt = opt_reader.read(y, h)
            clock.lap("read")
            sar_px = sar_reader.read(y, h)
            clock.lap("warp" if sar_reader.warped else "read")
            opt_n = meta.optical.prepare(opt, units["optical"])
            sar_n = meta.sar.prepare(sar_px, units["SAR"])
            valid = np.isfinite(opt_n).all(axis=0) & np.isfinite(sar_n).all(axis=0)
            # Missing pixels and padding enter the model as 0, the training mean.
            strips = []
            for arr in (opt_n, sar_n):
                padded = np.zeros((arr.shape[0], th, pad_w), dtype=np.float32)
                padded[:, :h, :width] = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
                strips.append(padded)
            valid_p = np.zeros((th, pad_w), dtype=bool)
            valid_p[:h, :width] = valid
            for x in layout.xs:
                queue.append(
                    (
                        y,
                        x,
                        strips[0][:, :, x : x + tw],
                        strips[1][:, :, x : x + tw],
                        valid_p[:, x : x + tw],
                    )
                )
            clock.lap("normalise")
            next_row = layout.ys[ri + 1] if ri + 1 < len(layout.ys) else height
            while len(queue) >= batch or (queue and ri + 1 == len(layout.ys)):
                run_batch(queue[:batch])
                del queue[:batch]
                flush(min([q[0] for q in queue] + [next_row]))
                if is_cancelled():
                    raise CancelledError(
                        f"Cancelled after {done} of {layout.count} tiles; the partial output "
                        "was removed."
                    )
        flush(height)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        opt_reader.close()
        sar_reader.close()
    qml = write_qml(out_path, meta.classes)
    clock.lap("write")

    valid_fraction = valid_pixels / float(width * height)
    if valid_pixels == 0:
        warning(
            "No pixel has data in both layers: the output is all nodata. Check the layers' "
            "nodata values and that they cover the same area."
        )
    result = SegmentResult(
        output=str(out_path),
        confidence=str(conf_path) if conf_path else None,
        qml=str(qml),
        provider=lm.provider,
        providers=list(lm.providers),
        tile_count=layout.count,
        batch_count=batches_done,
        tile_size=(th, tw),
        overlap=layout.overlap,
        batch_size=batch,
        width=width,
        height=height,
        geotransform=grid.geotransform,
        crs_wkt=grid.crs_wkt,
        optical_bands=opt_sel.bands,
        sar_bands=sar_sel.bands,
        optical_units=units["optical"],
        sar_units=units["SAR"],
        sar_resampled=sar_reader.warped,
        valid_fraction=valid_fraction,
        seconds=time.perf_counter() - start,
        classes=meta.classes,
        timings={k: round(v, 4) for k, v in clock.totals.items()},
        warnings=warnings,
    )
    for line in result.summary():
        info(line)
    return result


def output_exists(path: str | Path) -> bool:
    """True when `path` or any partial file of it is on disk (tests use this)."""
    p = Path(path)
    return p.exists() or any(p.parent.glob(f"{p.stem}.*.partial.tif*"))
