"""Accuracy of a predicted class raster against a reference raster, streamed block by block.

QGIS-free (GDAL + numpy only) so it is tested on its own; `upseg:evaluate` is a thin layer over
`evaluate_rasters`. The metric formulas are the training side's
(`upseg_qgis.core.accuracy.metrics`), so the plugin and `python -m model_export evaluate` report the
same numbers on the same pixels.

Conventions:
* The prediction's grid is the evaluation grid. The reference is aligned onto it on the fly
  with nearest neighbour through a warped VRT (any CRS, resolution, extent); with an identical
  grid it is read directly.
* Class values are the raster values themselves (any integers); the confusion matrix is over the
  sorted values that occur in either map, row = reference, column = prediction.
* Ignored: pixels that are nodata (or masked) in either raster, outside the reference, or
  whose reference value equals the ignore value before or after the class mapping (so mapping
  several reference values onto the ignore value ignores them all).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from osgeo import gdal, osr

from ..raster.class_names import gdal_category_names, qml_class_names, raster_class_names
from ..raster.gdal_errors import RasterError, gdal_call
from .confusion import (
    EvaluationError,
    StreamingConfusion,
    apply_mapping,
    class_label,
    mapping_from_table,
    parse_class_mapping,
)
from .metrics import jsonable

__all__ = ["EvaluationError", "EvaluationResult", "StreamingConfusion", "align_reference",
           "apply_mapping", "class_label", "evaluate_rasters", "gdal_category_names",
           "mapping_from_table", "parse_class_mapping", "qml_class_names", "raster_class_names",
           "same_grid"]

# Pixels per block read: bounds memory whatever the scene size.
BLOCK_PIXELS = 1 << 22


def _gdal(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A GDAL call whose failure becomes an EvaluationError (whatever GDAL's exception mode)."""
    try:
        return gdal_call(what, fn, *args, **kwargs)
    except RasterError as exc:
        raise EvaluationError(str(exc)) from None


def _open(path: str, what: str) -> gdal.Dataset:
    try:
        return gdal_call(f"Opening the {what} raster {path}", gdal.Open, path)
    except RasterError as exc:
        raise EvaluationError(f"Cannot open the {what} raster {path}: {exc}") from None


def _srs(ds: gdal.Dataset) -> osr.SpatialReference | None:
    wkt = ds.GetProjection()
    if not wkt:
        return None
    srs = osr.SpatialReference()
    if srs.ImportFromWkt(wkt) != 0:
        return None
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def same_grid(a: gdal.Dataset, b: gdal.Dataset) -> bool:
    if (a.RasterXSize, a.RasterYSize) != (b.RasterXSize, b.RasterYSize):
        return False
    ga, gb = np.array(a.GetGeoTransform()), np.array(b.GetGeoTransform())
    pixel = max(abs(ga[1]), abs(ga[5]), 1e-12)
    if not np.allclose(ga, gb, rtol=0, atol=pixel * 1e-3):
        return False
    sa, sb = _srs(a), _srs(b)
    if sa is None or sb is None:
        return sa is None and sb is None
    return bool(sa.IsSame(sb))


@dataclass
class AlignedReference:
    dataset: gdal.Dataset
    band: int
    alpha_band: int | None  # band of the warped VRT that says "covered by the reference"
    how: str  # told to the user: "read directly", "warped onto the prediction grid", ...
    vsimem_path: str | None = None

    def close(self) -> None:
        self.dataset = None
        if self.vsimem_path:
            for p in (self.vsimem_path, self.vsimem_path.replace(".vrt", "_band.vrt")):
                with suppress(RuntimeError):  # in either GDAL exception mode
                    gdal.Unlink(p)


def align_reference(pred_ds: gdal.Dataset, ref_path: str, ref_band: int = 1) -> AlignedReference:
    """The reference on the prediction's grid: itself when the grids match, else a warped VRT
    (nearest neighbour, an alpha band for the area the reference covers). Nothing is copied."""
    ref_ds = _open(ref_path, "reference")
    if not 1 <= ref_band <= ref_ds.RasterCount:
        raise EvaluationError(
            f"The reference raster has {ref_ds.RasterCount} band(s); band {ref_band} asked."
        )
    if same_grid(pred_ds, ref_ds):
        return AlignedReference(ref_ds, ref_band, None,
                                "same grid as the prediction, read directly")
    pred_srs, ref_srs = _srs(pred_ds), _srs(ref_ds)
    if pred_srs is None or ref_srs is None:
        raise EvaluationError(
            "The prediction and reference grids differ and one of them has no CRS, so they "
            "cannot be aligned. Give both rasters a CRS (or the same size and grid)."
        )
    gt = pred_ds.GetGeoTransform()
    w, h = pred_ds.RasterXSize, pred_ds.RasterYSize
    x0, y0 = gt[0], gt[3]
    x1, y1 = gt[0] + w * gt[1] + h * gt[2], gt[3] + w * gt[4] + h * gt[5]
    if gt[2] or gt[4] or gt[5] > 0:
        raise EvaluationError("Rotated or south-up prediction grids are not supported.")
    path = f"/vsimem/upseg_eval_{uuid.uuid4().hex}.vrt"
    source: gdal.Dataset = ref_ds
    if ref_ds.RasterCount > 1:  # GDAL 3.6's warper has no band choice: select it in a VRT
        source = _gdal("Selecting the reference band", gdal.Translate,
                       path.replace(".vrt", "_band.vrt"), ref_ds, format="VRT",
                       bandList=[ref_band])
    options = gdal.WarpOptions(
        format="VRT",
        outputBounds=(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)),
        width=w,
        height=h,
        dstSRS=pred_ds.GetProjection(),
        resampleAlg="near",
        dstAlpha=True,
    )
    warped = _gdal(f"Aligning the reference {ref_path}", gdal.Warp, path, source,
                   options=options)
    return AlignedReference(
        warped, 1, 2, "aligned onto the prediction grid (nearest neighbour, warped VRT)", path
    )


def _read_with_valid(
    ds: gdal.Dataset, band_no: int, x: int, y: int, w: int, h: int
) -> tuple[np.ndarray, np.ndarray]:
    band = ds.GetRasterBand(band_no)
    data = _gdal("Reading a raster", band.ReadAsArray, x, y, w, h)
    valid = np.ones(data.shape, bool)
    nodata = band.GetNoDataValue()
    if nodata is not None:
        valid &= ~(np.isnan(data) if math.isnan(nodata) else data == nodata)
    flags = band.GetMaskFlags()
    if not flags & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA):  # alpha band or explicit mask
        valid &= _gdal("Reading a mask", band.GetMaskBand().ReadAsArray, x, y, w, h) > 0
    return data, valid




@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    class_names: dict[int, str]
    alignment: str
    evaluated_pixels: int
    ignored_pixels: int
    total_pixels: int
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def values(self) -> list[int]:
        return list(self.metrics["class_values"])

    def f1_per_class(self) -> dict[str, float | None]:
        """{"name (value)": F1} in class order, NaN as None (JSON-ready)."""
        out: dict[str, float | None] = {}
        for v, name, f1 in zip(self.values, self.metrics["class_names"], self.metrics["f1"],
                               strict=True):
            out[f"{name} ({v})"] = None if math.isnan(f1) else float(f1)
        return out

    def to_json(self) -> str:
        payload = dict(jsonable(self.metrics))
        payload.update(alignment=self.alignment, inputs=self.inputs,
                       total_pixels=self.total_pixels)
        return json.dumps(payload, indent=1)


def evaluate_rasters(
    prediction: str,
    reference: str,
    prediction_band: int = 1,
    reference_band: int = 1,
    mapping: Mapping[int, int] | None = None,
    ignore_value: int | None = None,
    class_names: Mapping[int, str] | None = None,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    block_pixels: int = BLOCK_PIXELS,
) -> EvaluationResult:
    """Confusion matrix and metrics of `prediction` against `reference` (file paths or GDAL
    connection strings), streamed in row strips of at most `block_pixels` pixels."""
    pred_ds = _open(prediction, "predicted")
    if not 1 <= prediction_band <= pred_ds.RasterCount:
        raise EvaluationError(
            f"The predicted raster has {pred_ds.RasterCount} band(s); band {prediction_band} asked."
        )
    aligned = align_reference(pred_ds, reference, reference_band)
    names = dict(class_names) if class_names else raster_class_names(prediction, prediction_band)
    stream = StreamingConfusion(mapping=dict(mapping or {}), ignore_value=ignore_value)
    w, h = pred_ds.RasterXSize, pred_ds.RasterYSize
    _, block_h = pred_ds.GetRasterBand(prediction_band).GetBlockSize()
    rows = max(1, block_pixels // max(w, 1))
    if block_h and rows > block_h:
        rows -= rows % block_h  # whole GeoTIFF blocks per read
    try:
        for y in range(0, h, rows):
            if cancelled and cancelled():
                raise EvaluationError("Evaluation cancelled.")
            n = min(rows, h - y)
            pred, pred_ok = _read_with_valid(pred_ds, prediction_band, 0, y, w, n)
            ref, ref_ok = _read_with_valid(aligned.dataset, aligned.band, 0, y, w, n)
            if aligned.alpha_band:
                alpha = aligned.dataset.GetRasterBand(aligned.alpha_band)
                ref_ok &= _gdal("Reading the reference", alpha.ReadAsArray, 0, y, w, n) > 0
            stream.update(ref, pred, pred_ok & ref_ok)
            if progress:
                progress(100.0 * (y + n) / h)
    finally:
        how = aligned.how
        aligned.close()
    if stream.matrix.sum() == 0:
        raise EvaluationError(
            "No pixel is valid in both rasters (check that they overlap, their nodata values, "
            "the ignore value and the class mapping)."
        )
    result_metrics = stream.metrics(names)
    return EvaluationResult(
        metrics=result_metrics,
        class_names={int(v): n for v, n in zip(stream.values, result_metrics["class_names"],
                                                 strict=True)},
        alignment=how,
        evaluated_pixels=int(stream.matrix.sum()),
        ignored_pixels=stream.ignored_pixels,
        total_pixels=w * h,
        inputs={"prediction": prediction, "reference": reference},
    )
