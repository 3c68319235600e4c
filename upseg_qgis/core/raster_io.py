"""Raster grids, windowed reading, the SAR layer aligned on the fly, and the output writer.

The output grid is always the optical layer's (or a window of it). The SAR layer is resampled
onto that grid window by window (`WarpedReader`): pixels are warped only when a window is read,
so a scene is never copied as a whole. Missing pixels (nodata, NaN, mask, outside the SAR layer)
come back as NaN. Outputs are written to a temporary file in the output folder and renamed only
on success; only complete blocks are handed to GDAL and flushed at once, and readers can drop
their blocks from GDAL's cache, so GDAL's memory does not grow with the scene either.

GDAL only (no QGIS): errors are collected with a local error handler instead of switching the
process-wide `gdal.UseExceptions()`, which other plugins may rely on either way.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from osgeo import gdal, osr

from .attribute_table import attribute_table, class_rows

T = TypeVar("T")

OUTPUT_EXTENSIONS = (".tif", ".tiff")
CONFIDENCE_NODATA = -1.0  # max class probability is always > 0, so -1 cannot be a value
_BLOCK = 256


class RasterError(RuntimeError):
    """A raster cannot be read, aligned or written; the message says what to do."""


@contextmanager
def _gdal_errors() -> Iterator[list[str]]:
    """Collect GDAL failure messages for the calls inside the block (thread-local handler)."""
    messages: list[str] = []

    def handler(err_class: int, _code: int, msg: str) -> None:
        if err_class >= gdal.CE_Failure:
            messages.append(str(msg).strip())

    gdal.PushErrorHandler(handler)
    try:
        yield messages
    finally:
        gdal.PopErrorHandler()


def gdal_call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a GDAL call; None or a failure becomes RasterError naming `what` and GDAL's reason."""
    with _gdal_errors() as messages:
        try:
            result = fn(*args, **kwargs)
        except RuntimeError as exc:  # someone switched on gdal.UseExceptions()
            messages.append(str(exc))
            result = None
    if result is None:
        reason = "; ".join(m for m in messages if m) or "GDAL gave no reason"
        raise RasterError(f"{what} failed: {reason}")
    return result


def gdal_cache_used() -> int:
    """Bytes in GDAL's (process-wide) block cache."""
    return int(gdal.GetCacheUsed())


def open_raster(path: str, role: str) -> gdal.Dataset:
    """Open a raster read-only, with an error that names the layer's role."""
    if not path:
        raise RasterError(f"No {role} layer was given.")
    try:
        return gdal_call(f"Opening the {role} layer {path}", gdal.Open, path, gdal.GA_ReadOnly)
    except RasterError as exc:
        raise RasterError(
            f"{exc}. Choose a raster layer that GDAL can read (GeoTIFF, VRT, JP2, ...)."
        ) from None


# ---------------------------------------------------------------------------------------------
# Grids and windows


@dataclass(frozen=True)
class Window:
    xoff: int
    yoff: int
    width: int
    height: int


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid. geotransform None = not georeferenced (pixel space only)."""

    width: int
    height: int
    geotransform: tuple[float, float, float, float, float, float] | None
    crs_wkt: str = ""

    @property
    def georeferenced(self) -> bool:
        return self.geotransform is not None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in the grid's CRS."""
        gt = self._gt()
        x0, y0 = gt[0], gt[3]
        x1, y1 = x0 + self.width * gt[1], y0 + self.height * gt[5]
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def _gt(self) -> tuple[float, float, float, float, float, float]:
        if self.geotransform is None:
            raise RasterError("This operation needs a georeferenced layer.")
        return self.geotransform

    def window(self, win: Window) -> Grid:
        """The sub-grid of `win` (pixel offsets relative to this grid)."""
        gt = self.geotransform
        if gt is not None:
            gt = (
                gt[0] + win.xoff * gt[1],
                gt[1],
                0.0,
                gt[3] + win.yoff * gt[5],
                0.0,
                gt[5],
            )
        return Grid(win.width, win.height, gt, self.crs_wkt)

    def same_as(self, other: Grid, tol: float = 1e-6) -> bool:
        """Same size, same pixel positions (to `tol` pixel) and the same CRS."""
        if (self.width, self.height) != (other.width, other.height):
            return False
        if self.geotransform is None or other.geotransform is None:
            return self.geotransform is None and other.geotransform is None
        a, b = self.geotransform, other.geotransform
        px = abs(a[1]) or 1.0
        if any(abs(a[i] - b[i]) > tol * px for i in range(6)):
            return False
        return same_crs(self.crs_wkt, other.crs_wkt)


def _srs(wkt: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    if srs.ImportFromWkt(wkt) != 0:
        raise RasterError("A layer's CRS cannot be understood by GDAL/PROJ.")
    # x = easting/longitude everywhere: that is how geotransforms are expressed.
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def same_crs(wkt_a: str, wkt_b: str) -> bool:
    if not wkt_a or not wkt_b:
        return wkt_a == wkt_b
    return bool(_srs(wkt_a).IsSame(_srs(wkt_b)))


def raster_grid(ds: gdal.Dataset, role: str) -> Grid:
    gt = ds.GetGeoTransform(can_return_null=True)
    wkt = ds.GetProjection() or ""
    if gt is not None:
        gt = tuple(float(v) for v in gt)
        if gt[2] != 0.0 or gt[4] != 0.0 or gt[1] <= 0 or gt[5] >= 0:
            raise RasterError(
                f"The {role} layer is rotated or not north-up. Warp it to a north-up grid first "
                "(Raster > Projections > Warp, or gdal:warpreproject)."
            )
    return Grid(ds.RasterXSize, ds.RasterYSize, gt, wkt)  # type: ignore[arg-type]


def window_for_extent(
    grid: Grid, extent: tuple[float, float, float, float] | None
) -> Window:
    """Pixels of `grid` touched by `extent` (xmin, ymin, xmax, ymax in the grid's CRS)."""
    full = Window(0, 0, grid.width, grid.height)
    if extent is None:
        return full
    if not grid.georeferenced:
        raise RasterError(
            "EXTENT needs a georeferenced optical layer; this one has no geotransform. "
            "Leave EXTENT empty to process the whole layer."
        )
    gt = grid._gt()
    xmin, ymin, xmax, ymax = extent
    if not (xmax > xmin and ymax > ymin):
        raise RasterError("EXTENT is empty: give an extent with a non-zero width and height.")
    # Outward to whole pixels, then clipped to the layer.
    eps = 1e-9
    c0 = math.floor((xmin - gt[0]) / gt[1] + eps)
    c1 = math.ceil((xmax - gt[0]) / gt[1] - eps)
    r0 = math.floor((ymax - gt[3]) / gt[5] + eps)
    r1 = math.ceil((ymin - gt[3]) / gt[5] - eps)
    c0, c1 = max(c0, 0), min(c1, grid.width)
    r0, r1 = max(r0, 0), min(r1, grid.height)
    if c1 <= c0 or r1 <= r0:
        raise RasterError(
            "EXTENT does not overlap the optical layer. Choose an extent inside the optical "
            "layer, or leave EXTENT empty to process all of it."
        )
    return Window(c0, r0, c1 - c0, r1 - r0)


def band_labels(ds: gdal.Dataset) -> list[str]:
    """Per band, its description, else its colour interpretation name (e.g. 'Red'), else ''."""
    labels = []
    for i in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(i)
        label = (band.GetDescription() or "").strip()
        if not label:
            ci = band.GetColorInterpretation()
            if ci not in (gdal.GCI_Undefined, gdal.GCI_GrayIndex, gdal.GCI_PaletteIndex):
                label = gdal.GetColorInterpretationName(ci) or ""
        labels.append(label)
    return labels


def band_data_types(ds: gdal.Dataset, bands: Sequence[int]) -> list[str]:
    return [gdal.GetDataTypeName(ds.GetRasterBand(b).DataType) for b in bands]


# ---------------------------------------------------------------------------------------------
# Reading


def _masked_float(
    ds: gdal.Dataset, bands: Sequence[int], raw: np.ndarray, mask_reader: Callable[[int], Any]
) -> np.ndarray:
    """Raw band values [C, h, w] -> float32 with NaN where a band says the pixel is missing."""
    out = raw.astype(np.float32)
    for i, b in enumerate(bands):
        band = ds.GetRasterBand(b)
        nodata = band.GetNoDataValue()
        if nodata is not None:
            if math.isnan(nodata):
                pass  # NaN stays NaN
            elif np.issubdtype(raw.dtype, np.integer):
                out[i][raw[i] == nodata] = np.nan  # compared before the float cast
            else:
                out[i][raw[i] == np.float32(nodata)] = np.nan
        flags = band.GetMaskFlags()
        if not flags & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA):
            mask = mask_reader(b)  # per-dataset mask or alpha band
            if mask is not None:
                out[i][mask == 0] = np.nan
        if np.issubdtype(raw.dtype, np.floating):
            out[i][~np.isfinite(raw[i])] = np.nan
    return out


def read_window(ds: gdal.Dataset, bands: Sequence[int], win: Window, role: str) -> np.ndarray:
    """Selected bands over `win`, float32 [C, h, w], NaN where missing."""
    raw = gdal_call(
        f"Reading the {role} layer",
        ds.ReadAsArray,
        win.xoff,
        win.yoff,
        win.width,
        win.height,
        band_list=list(bands),
    )
    if raw.ndim == 2:
        raw = raw[np.newaxis]

    def mask(b: int) -> np.ndarray | None:
        return ds.GetRasterBand(b).GetMaskBand().ReadAsArray(
            win.xoff, win.yoff, win.width, win.height
        )

    return _masked_float(ds, bands, raw, mask)


# Layers up to this many pixels (or with overviews) are sampled by one decimated read; larger
# ones by patches, so that statistics do not decode the whole scene.
SAMPLE_FULL_READ_PIXELS = 2048 * 2048


def sample_values(ds: gdal.Dataset, bands: Sequence[int], role: str, size: int = 256) -> np.ndarray:
    """About size x size values per band, spread over the whole layer, for statistics.

    Small layers and layers with overviews: one decimated read (GDAL uses the overviews). Large
    layers without overviews: a decimated read would decode every block of the scene (tens of
    seconds and GDAL_CACHEMAX of memory for a large scene), so `size` / 32 x `size` / 32
    patches of 32 x 32 pixels, one per block they start in, are read instead; the blocks read
    are dropped from GDAL's cache afterwards.
    """
    w, h = ds.RasterXSize, ds.RasterYSize
    first = ds.GetRasterBand(bands[0])
    if w * h <= SAMPLE_FULL_READ_PIXELS or first.GetOverviewCount() > 0:
        bx, by = min(w, size), min(h, size)
        raw = gdal_call(
            f"Reading the {role} layer",
            ds.ReadAsArray,
            band_list=list(bands),
            buf_xsize=bx,
            buf_ysize=by,
        )
        if raw.ndim == 2:
            raw = raw[np.newaxis]

        def mask(b: int) -> np.ndarray | None:
            return ds.GetRasterBand(b).GetMaskBand().ReadAsArray(buf_xsize=bx, buf_ysize=by)

        return _masked_float(ds, bands, raw, mask)

    patch, n = 32, max(1, size // 32)
    block_w, block_h = first.GetBlockSize()
    patches = []
    for y in _spread(h, n, patch, block_h):
        row = []
        for x in _spread(w, n, patch, block_w):
            row.append(read_window(ds, bands, Window(x, y, patch, patch), role))
        patches.append(np.concatenate(row, axis=2))
    ds.FlushCache()
    return np.concatenate(patches, axis=1)


def _spread(length: int, n: int, patch: int, block: int) -> list[int]:
    """`n` patch offsets spread evenly over `length`, each moved to the start of its block so
    that a patch decodes a single block."""
    out = []
    for c in np.linspace(0, length - patch, n):
        start = int(c) // max(block, 1) * max(block, 1)
        out.append(min(start, length - patch))
    return out


class StripReader:
    """Rows of the output grid from one layer: `read(row, height)` -> float32 [C, height, W],
    or any window of them with `read_window`."""

    warped = False

    def __init__(
        self,
        ds: gdal.Dataset,
        bands: Sequence[int],
        window: Window,
        role: str,
        keep_alive: Sequence[Any] = (),
    ) -> None:
        self.ds = ds
        self.bands = list(bands)
        self.window = window
        self.role = role
        self._keep_alive = list(keep_alive)  # sources that must outlive `ds`

    @property
    def band_count(self) -> int:
        return len(self.bands)

    def read(self, row: int, height: int) -> np.ndarray:
        return self.read_window(row, height, 0, self.window.width)

    def read_window(self, row: int, height: int, col: int, width: int) -> np.ndarray:
        """float32 [C, height, width] from output-grid row `row`, column `col`."""
        w = self.window
        return read_window(
            self.ds, self.bands, Window(w.xoff + col, w.yoff + row, width, height), self.role
        )

    def release_cache(self) -> None:
        """Drop this layer's blocks from GDAL's block cache.

        Reading streams through the scene once; without this, GDAL keeps the blocks read up to
        GDAL_CACHEMAX (5 % of RAM by default), so memory grows with the scene. The pipeline
        calls it whenever the cache holds more than its budget. (On a read-only dataset,
        FlushCache only frees blocks.)
        """
        for ds in (self.ds, *self._keep_alive):
            if ds is not None:
                ds.FlushCache()

    def close(self) -> None:
        self.ds = None
        self._keep_alive.clear()


class WarpedReader(StripReader):
    """A layer resampled onto the output grid, one requested window at a time.

    Each `read_window` warps exactly that window into an in-memory dataset: no temporary copy
    of the scene, and no warped blocks kept in GDAL's cache between windows (a warped VRT
    would keep them, or warp its blocks that straddle two windows twice). Pixels without a
    source value come back as NaN.
    """

    warped = True

    def __init__(
        self,
        source: gdal.Dataset,
        target: Grid,
        band_count: int,
        role: str,
        warp_options: gdal.WarpOptions,
        keep_alive: Sequence[Any] = (),
    ) -> None:
        super().__init__(
            source,
            list(range(1, band_count + 1)),
            Window(0, 0, target.width, target.height),
            role,
            keep_alive,
        )
        self.target = target
        self._options = warp_options
        self._mem = gdal.GetDriverByName("MEM")

    def read_window(self, row: int, height: int, col: int, width: int) -> np.ndarray:
        sub = self.target.window(Window(col, row, width, height))
        dst = self._mem.Create("", width, height, self.band_count, gdal.GDT_Float32)
        if sub.geotransform is not None:
            dst.SetGeoTransform(sub.geotransform)
        dst.SetProjection(self.target.crs_wkt)
        gdal_call(
            f"Aligning the {self.role} layer on the optical grid",
            gdal.Warp,
            dst,
            self.ds,
            options=self._options,
        )
        out = dst.ReadAsArray()
        if out.ndim == 2:
            out = out[np.newaxis]
        return out.astype(np.float32, copy=False)


def _transform_bounds(
    bounds: tuple[float, float, float, float], src_wkt: str, dst_wkt: str
) -> tuple[float, float, float, float] | None:
    """`bounds` as seen in another CRS (densified edges); None when PROJ cannot do it."""
    if same_crs(src_wkt, dst_wkt):
        return bounds
    try:
        ct = osr.CoordinateTransformation(_srs(src_wkt), _srs(dst_wkt))
        with _gdal_errors():
            out = ct.TransformBounds(*bounds, 21)
    except (RuntimeError, TypeError):
        return None
    if out is None or not all(math.isfinite(v) for v in out):
        return None
    return tuple(float(v) for v in out)  # type: ignore[return-value]


def overlap_fraction(target: Grid, source: Grid) -> float:
    """Share of the target grid's area covered by the source layer's footprint (0..1)."""
    src_bounds = _transform_bounds(source.bounds, source.crs_wkt, target.crs_wkt)
    if src_bounds is None:
        return 0.0
    tx0, ty0, tx1, ty1 = target.bounds
    sx0, sy0, sx1, sy1 = src_bounds
    w = min(tx1, sx1) - max(tx0, sx0)
    h = min(ty1, sy1) - max(ty0, sy0)
    if w <= 0 or h <= 0:
        return 0.0
    return float(w * h / ((tx1 - tx0) * (ty1 - ty0)))


def choose_resampling(target: Grid, source: Grid) -> str:
    """Bilinear, or average when the SAR pixels are much finer than the output's (speckle)."""
    src_bounds = _transform_bounds(source.bounds, source.crs_wkt, target.crs_wkt)
    if src_bounds is None:
        return "bilinear"
    src_px = (src_bounds[2] - src_bounds[0]) / max(source.width, 1)
    dst_px = target._gt()[1]
    return "average" if src_px * 2 <= dst_px else "bilinear"


def aligned_reader(
    ds: gdal.Dataset,
    bands: Sequence[int],
    target: Grid,
    role: str,
    full_target: Grid | None = None,
    target_window: Window | None = None,
) -> StripReader:
    """A reader of `ds` on the `target` grid: direct when the grids coincide, else one that
    warps each requested window (`WarpedReader`).

    `full_target`/`target_window` say where `target` sits in the optical layer, so a SAR layer
    on exactly the optical grid is read directly even when EXTENT selects a window of it.
    """
    source = raster_grid(ds, role)
    win = target_window or Window(0, 0, target.width, target.height)
    if full_target is not None and source.same_as(full_target):
        return StripReader(ds, bands, win, role)
    if source.same_as(target):
        return StripReader(ds, bands, Window(0, 0, target.width, target.height), role)
    if not target.georeferenced or not source.georeferenced:
        raise RasterError(
            f"The optical and {role} layers cannot be aligned: "
            + (
                "neither is georeferenced and their sizes differ "
                f"({target.width}x{target.height} vs {source.width}x{source.height}). "
                if not target.georeferenced and not source.georeferenced
                else "only one of them is georeferenced. "
            )
            + "Georeference both (Raster > Georeferencer) or give two layers of the same size."
        )
    if not target.crs_wkt or not source.crs_wkt:
        raise RasterError(
            f"The {'optical' if not target.crs_wkt else role} layer has no CRS, so the layers "
            "cannot be aligned. Set its CRS (Layer Properties > Source, or gdal:assignprojection)."
        )
    if overlap_fraction(target, source) <= 0.0:
        raise RasterError(
            f"The {role} layer does not overlap the optical layer"
            + (" within EXTENT" if target_window is not None else "")
            + ". Choose layers that cover the same area (check both CRSs), or another EXTENT."
        )
    # Band selection and float conversion first (a light VRT), so only the chosen bands warp.
    selected = gdal_call(
        f"Selecting the {role} bands",
        gdal.Translate,
        "",
        ds,
        options=gdal.TranslateOptions(
            format="VRT", bandList=list(bands), outputType=gdal.GDT_Float32
        ),
    )
    src_nodata = []
    for i in range(1, selected.RasterCount + 1):
        nd = selected.GetRasterBand(i).GetNoDataValue()
        src_nodata.append("nan" if nd is None else repr(float(nd)))
    options = gdal.WarpOptions(
        resampleAlg=choose_resampling(target, source),
        # NaN is "missing" for float layers without a declared nodata, too.
        srcNodata=" ".join(src_nodata),
        dstNodata="nan",
        warpOptions=["INIT_DEST=NO_DATA"],
        # The approximate transformer's error in pixels: GDAL's default (0.125) drifts up to a
        # tenth of a pixel over a wide window; 0.01 costs the same and stays near exact.
        errorThreshold=0.01,
        multithread=False,
    )
    return WarpedReader(selected, target, len(bands), role, options, keep_alive=(ds,))


# ---------------------------------------------------------------------------------------------
# Writing


def check_output_path(path: str, inputs: Sequence[str] = (), what: str = "OUTPUT") -> Path:
    """Fail early, before any work, when `path` cannot become a GeoTIFF output."""
    if not path:
        raise RasterError(f"No {what} file was given.")
    out = Path(path)
    if out.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise RasterError(
            f"{what} must be a GeoTIFF file ending in .tif, not '{out.name}'. "
            "Choose a .tif file name."
        )
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise RasterError(
            f"Cannot write {what} to {out}: the folder {folder} does not exist (or is not a "
            "folder). Choose an existing folder you can write to."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RasterError(
            f"Cannot write {what} to {out}: no permission to write in {folder}. "
            "Choose a folder you can write to."
        )
    resolved = out.resolve()
    for src in inputs:
        if src and Path(src).exists() and Path(src).resolve() == resolved:
            raise RasterError(
                f"{what} would overwrite an input layer ({out}); choose another file name."
            )
    return out


def _partial_name(final: Path) -> Path:
    # A visible name with a recognisable suffix: a crashed run's leftover is obviously junk.
    return final.with_name(f"{final.stem}.{uuid.uuid4().hex[:8]}.partial.tif")


def _creation_options(predictor: int | None) -> list[str]:
    opts = [
        "TILED=YES",
        f"BLOCKXSIZE={_BLOCK}",
        f"BLOCKYSIZE={_BLOCK}",
        "COMPRESS=DEFLATE",
        "BIGTIFF=IF_SAFER",
    ]
    if predictor:
        opts.append(f"PREDICTOR={predictor}")
    return opts


def _remove(path: Path) -> None:
    for p in (path, Path(str(path) + ".aux.xml")):
        with suppress(FileNotFoundError):
            p.unlink()


class BlockAssembler:
    """Windows of an output raster in, whole blocks (or runs of whole blocks) out.

    A window's part that covers whole blocks comes straight back; the rest is copied into
    per-block buffers that come back once every pixel of their block has arrived. Windows must
    not overlap. Memory: only the partly covered blocks (for windows that follow the tile
    layout, about one row of blocks across the scene when rows are not block-aligned).
    """

    def __init__(self, width: int, height: int, block: int, fill: int, confidence: bool) -> None:
        self.width = width
        self.height = height
        self.block = block
        self.fill = fill
        self.confidence = confidence
        # (block row, block col) -> [classes, confidence or None, pixels still missing]
        self._pending: dict[tuple[int, int], list[Any]] = {}

    @property
    def pending_blocks(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return sum(
            p[0].nbytes + (p[1].nbytes if p[1] is not None else 0) for p in self._pending.values()
        )

    def _inner(self, start: int, stop: int, size: int) -> tuple[int, int]:
        """The block-aligned part [a, b) of [start, stop); a raster edge counts as aligned."""
        b = self.block
        a = -(-start // b) * b
        e = size if stop == size else (stop // b) * b
        return a, max(a, e)

    def add(
        self, row: int, col: int, classes: np.ndarray, conf: np.ndarray | None
    ) -> list[tuple[int, int, np.ndarray, np.ndarray | None]]:
        h, w = classes.shape
        if row < 0 or col < 0 or row + h > self.height or col + w > self.width:
            raise ValueError(f"window {col},{row} {w}x{h} outside {self.width}x{self.height}")
        out: list[tuple[int, int, np.ndarray, np.ndarray | None]] = []
        r0, r1 = self._inner(row, row + h, self.height)
        c0, c1 = self._inner(col, col + w, self.width)
        if r1 > r0 and c1 > c0:
            out.append(
                (
                    r0,
                    c0,
                    classes[r0 - row : r1 - row, c0 - col : c1 - col],
                    None if conf is None else conf[r0 - row : r1 - row, c0 - col : c1 - col],
                )
            )
        else:
            r0 = r1 = c0 = c1 = -1
        b = self.block
        for bi in range(row // b, (row + h - 1) // b + 1):
            for bj in range(col // b, (col + w - 1) // b + 1):
                y0, x0 = bi * b, bj * b
                if r0 <= y0 < r1 and c0 <= x0 < c1:
                    continue  # inside the aligned part
                bh, bw = min(b, self.height - y0), min(b, self.width - x0)
                ya, yb = max(row, y0), min(row + h, y0 + bh)
                xa, xb = max(col, x0), min(col + w, x0 + bw)
                entry = self._pending.get((bi, bj))
                if entry is None:
                    entry = [
                        np.full((bh, bw), self.fill, np.uint8),
                        np.full((bh, bw), CONFIDENCE_NODATA, np.float32)
                        if self.confidence
                        else None,
                        bh * bw,
                    ]
                    self._pending[(bi, bj)] = entry
                entry[0][ya - y0 : yb - y0, xa - x0 : xb - x0] = classes[
                    ya - row : yb - row, xa - col : xb - col
                ]
                if entry[1] is not None and conf is not None:
                    entry[1][ya - y0 : yb - y0, xa - x0 : xb - x0] = conf[
                        ya - row : yb - row, xa - col : xb - col
                    ]
                entry[2] -= (yb - ya) * (xb - xa)
                if entry[2] <= 0:
                    del self._pending[(bi, bj)]
                    out.append((y0, x0, entry[0], entry[1]))
        return out


class OutputWriter:
    """The class raster (uint8, palette, category names) and optionally the confidence raster.

    Rows arrive in order through `write_rows`; `commit()` closes and renames the temporary files
    into place; `abort()` removes them. Use as a context manager: an exception aborts.
    """

    def __init__(
        self,
        path: str | Path,
        grid: Grid,
        nodata: int,
        colours: Sequence[tuple[int, tuple[int, int, int, int]]],
        category_names: Sequence[str],
        confidence_path: str | Path | None = None,
    ) -> None:
        self.final = Path(path)
        self.final_confidence = Path(confidence_path) if confidence_path else None
        self.grid = grid
        self.nodata = nodata
        self._colours = list(colours)
        self._names = list(category_names)
        self._tmp = _partial_name(self.final)
        self._tmp_conf = _partial_name(self.final_confidence) if self.final_confidence else None
        self._ds: gdal.Dataset | None = None
        self._conf_ds: gdal.Dataset | None = None
        self._assembler = BlockAssembler(
            grid.width, grid.height, _BLOCK, nodata, confidence_path is not None
        )
        self._open()

    def _create(self, path: Path, dtype: int, predictor: int | None, what: str) -> gdal.Dataset:
        driver = gdal.GetDriverByName("GTiff")
        ds = gdal_call(
            f"Creating {what} {path}",
            driver.Create,
            str(path),
            self.grid.width,
            self.grid.height,
            1,
            dtype,
            options=_creation_options(predictor),
        )
        if self.grid.geotransform is not None:
            ds.SetGeoTransform(self.grid.geotransform)
        if self.grid.crs_wkt:
            ds.SetProjection(self.grid.crs_wkt)
        return ds

    def _open(self) -> None:
        try:
            # Category names live in the .aux.xml (PAM) for GeoTIFF: keep PAM on for our own
            # output even where GDAL_PAM_ENABLED=NO guards other folders.
            gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
            self._ds = self._create(self._tmp, gdal.GDT_Byte, None, "the output")
            band = self._ds.GetRasterBand(1)
            band.SetNoDataValue(self.nodata)
            ct = gdal.ColorTable()
            for value, rgba in self._colours:
                ct.SetColorEntry(int(value), tuple(int(c) for c in rgba))
            band.SetRasterColorTable(ct)
            band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
            band.SetCategoryNames(self._names)
            band.SetDefaultRAT(attribute_table(class_rows(self._colours, self._names)))
            band.SetDescription("class")
            if self._tmp_conf is not None:
                self._conf_ds = self._create(
                    self._tmp_conf, gdal.GDT_Float32, 3, "the confidence output"
                )
                cband = self._conf_ds.GetRasterBand(1)
                cband.SetNoDataValue(CONFIDENCE_NODATA)
                cband.SetDescription("max class probability")
        except RasterError as exc:
            self.abort()
            raise RasterError(f"{exc}. Choose an output folder you can write to.") from None
        finally:
            gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)

    def write_rows(self, row: int, classes: np.ndarray, confidence: np.ndarray | None) -> None:
        """Whole rows from `row` on."""
        self.write_window(row, 0, classes, confidence)

    def write_window(
        self, row: int, col: int, classes: np.ndarray, confidence: np.ndarray | None
    ) -> None:
        """A window of the output at (`row`, `col`); every pixel is written once, in any order.

        Only complete blocks reach GDAL (partly covered ones wait in `_pending`), and they are
        flushed to disk at once: a compressed block is never written twice, and GDAL's cache
        does not fill up with the output as the scene goes by.
        """
        assert self._ds is not None
        classes = np.asarray(classes, dtype=np.uint8)
        conf = None
        if self._conf_ds is not None and confidence is not None:
            conf = np.asarray(confidence, dtype=np.float32)
        writes = self._assembler.add(row, col, classes, conf)
        if not writes:
            return
        with _gdal_errors() as messages:
            band = self._ds.GetRasterBand(1)
            cband = self._conf_ds.GetRasterBand(1) if self._conf_ds is not None else None
            for r, c, cls, cf in writes:
                band.WriteArray(np.ascontiguousarray(cls), c, r)
                if cband is not None and cf is not None:
                    cband.WriteArray(np.ascontiguousarray(cf), c, r)
            for ds in (self._ds, self._conf_ds):
                if ds is not None:
                    ds.FlushCache()
        if messages:
            raise RasterError(f"Writing {self.final} failed: {'; '.join(messages)} (disk full?)")

    @property
    def pending_bytes(self) -> int:
        """Memory held in partly written blocks."""
        return self._assembler.pending_bytes

    def _close(self) -> list[str]:
        with _gdal_errors() as messages:
            gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
            try:
                for ds in (self._ds, self._conf_ds):
                    if ds is not None:
                        ds.FlushCache()
                self._ds = None  # closing writes the last blocks and the .aux.xml
                self._conf_ds = None
            finally:
                gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
        return messages

    def commit(self) -> None:
        if self._ds is not None and self._assembler.pending_bytes:
            raise RasterError(
                f"Writing {self.final} failed: {self._assembler.pending_blocks} block(s) were "
                "never completed (an internal error; please report it)."
            )
        messages = self._close()
        if messages:
            self.abort()
            raise RasterError(f"Writing {self.final} failed: {'; '.join(messages)}")
        pairs = [(self._tmp, self.final)]
        if self._tmp_conf is not None and self.final_confidence is not None:
            pairs.append((self._tmp_conf, self.final_confidence))
        for tmp, final in pairs:
            aux_tmp, aux_final = Path(str(tmp) + ".aux.xml"), Path(str(final) + ".aux.xml")
            os.replace(tmp, final)
            if aux_tmp.exists():
                os.replace(aux_tmp, aux_final)
            elif aux_final.exists():
                aux_final.unlink()  # a stale one from an earlier run would describe old data

    def abort(self) -> None:
        self._close()
        _remove(self._tmp)
        if self._tmp_conf is not None:
            _remove(self._tmp_conf)

    @property
    def partial_paths(self) -> list[Path]:
        return [p for p in (self._tmp, self._tmp_conf) if p is not None]

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
