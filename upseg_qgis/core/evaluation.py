"""Accuracy of a predicted class raster against a reference raster, streamed block by block.

QGIS-free (GDAL + numpy only) so it is tested on its own; `upseg:evaluate` is a thin layer over
`evaluate_rasters`. The metric formulas are the training side's (`upseg_qgis.core.metrics`), so
the plugin and `python -m model_export evaluate` report the same numbers on the same pixels.

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

import contextlib
import html
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

import numpy as np
from osgeo import gdal, osr

from .metrics import confusion_matrix, jsonable, metrics_from_confusion

gdal.UseExceptions()

# Pixels per block read: bounds memory whatever the scene size.
BLOCK_PIXELS = 1 << 22


class EvaluationError(ValueError):
    """Bad inputs, with a message that tells the user what to change."""


# ---------------------------------------------------------------------------------------------
# Class mapping
# ---------------------------------------------------------------------------------------------

_PAIR_RE = re.compile(r"^\s*(-?\d+)\s*(?:->|=>|:|=)\s*(-?\d+)\s*$")


def parse_class_mapping(text: str | None) -> dict[int, int]:
    """`"10:1, 20:2"` (also `10->1`, `10=1`, separated by commas, semicolons or new lines) as
    {reference value: predicted value}. Empty text: no mapping."""
    mapping: dict[int, int] = {}
    if not text or not text.strip():
        return mapping
    for item in re.split(r"[,;\n]+", text):
        if not item.strip():
            continue
        match = _PAIR_RE.match(item)
        if not match:
            raise EvaluationError(
                f"Class mapping item '{item.strip()}' is not 'reference value:predicted value' "
                "(for example '10:1, 20:2')."
            )
        ref, pred = int(match.group(1)), int(match.group(2))
        if ref in mapping and mapping[ref] != pred:
            raise EvaluationError(f"Class mapping gives reference value {ref} twice.")
        mapping[ref] = pred
    return mapping


def mapping_from_table(cells: Sequence[Any] | None) -> dict[int, int]:
    """A flat [ref, pred, ref, pred, ...] list, as a Processing matrix parameter gives it."""
    norm = [_cell(c) for c in (cells or [])]
    if all(c is None for c in norm):
        return {}  # an unset matrix parameter comes as [NULL]
    if len(norm) % 2:
        raise EvaluationError("The class mapping table needs two columns: reference, predicted.")
    mapping: dict[int, int] = {}
    for ref, pred in zip(norm[::2], norm[1::2], strict=True):
        if ref is None and pred is None:
            continue  # an empty row the dialog leaves behind
        if ref is None or pred is None:
            raise EvaluationError("A class mapping table row has only one value.")
        if mapping.get(ref, pred) != pred:
            raise EvaluationError(f"Class mapping gives reference value {ref} twice.")
        mapping[ref] = pred
    return mapping


def _cell(c: Any) -> int | None:
    """A table cell as an integer class value; None, NULL and '' are empty."""
    text = "" if c is None else str(c).strip()
    if text in ("", "NULL", "None"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise EvaluationError(f"Class mapping value '{text}' is not a number.") from None
    if not value.is_integer():
        raise EvaluationError(f"Class mapping value '{text}' is not an integer class value.")
    return int(value)


def apply_mapping(values: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """Reference values replaced through the mapping; values not listed stay as they are."""
    if not mapping:
        return values
    out = values.copy()
    for ref, pred in mapping.items():
        out[values == ref] = pred  # compare with the original: chains like 1:2, 2:3 stay 1->2
    return out


# ---------------------------------------------------------------------------------------------
# Streaming confusion matrix over arbitrary class values
# ---------------------------------------------------------------------------------------------


@dataclass
class StreamingConfusion:
    """Confusion matrix over class values discovered block by block.

    Counting itself is `metrics.confusion_matrix` on indices into the sorted value list, which
    grows (and the matrix with it) when a block brings a new value.
    """

    mapping: Mapping[int, int] = field(default_factory=dict)
    ignore_value: int | None = None
    values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    ignored_pixels: int = 0

    def _grow(self, new_values: np.ndarray) -> None:
        merged = np.union1d(self.values, new_values)
        if merged.size == self.values.size:
            return
        grown = np.zeros((merged.size, merged.size), np.int64)
        pos = np.searchsorted(merged, self.values)
        grown[np.ix_(pos, pos)] = self.matrix
        self.values, self.matrix = merged, grown

    def update(
        self, reference: np.ndarray, prediction: np.ndarray, valid: np.ndarray | None = None
    ) -> None:
        """Add one block. `valid` (bool, same shape) marks pixels usable in both rasters."""
        ref = np.asarray(reference)
        pred = np.asarray(prediction)
        if ref.shape != pred.shape:
            raise EvaluationError(f"reference {ref.shape} and prediction {pred.shape} differ")
        ok = np.ones(ref.shape, bool) if valid is None else np.asarray(valid, bool).copy()
        # Float rasters: NaN is missing, values are rounded to the class integers.
        if np.issubdtype(ref.dtype, np.floating):
            ok &= np.isfinite(ref)
            ref = np.rint(np.where(ok, ref, 0))
        if np.issubdtype(pred.dtype, np.floating):
            ok &= np.isfinite(pred)
            pred = np.rint(np.where(ok, pred, 0))
        ref = ref.astype(np.int64, copy=False)
        pred = pred.astype(np.int64, copy=False)
        if self.ignore_value is not None:
            ok &= ref != self.ignore_value
        ref = apply_mapping(ref, self.mapping)
        if self.ignore_value is not None:
            ok &= ref != self.ignore_value
        n_ok = int(ok.sum())
        self.ignored_pixels += int(ok.size - n_ok)
        if n_ok == 0:
            return
        ref, pred = ref[ok], pred[ok]
        self._grow(np.union1d(np.unique(ref), np.unique(pred)))
        k = self.values.size
        self.matrix += confusion_matrix(
            np.searchsorted(self.values, ref), np.searchsorted(self.values, pred), k,
            ignore_index=None,
        )

    def metrics(self, class_names: Mapping[int, str] | None = None) -> dict[str, Any]:
        """The training side's metric dict, plus `class_values`."""
        names = [class_label(int(v), class_names) for v in self.values]
        result = metrics_from_confusion(self.matrix, names)
        result["class_values"] = [int(v) for v in self.values]
        result["ignored_pixels"] = self.ignored_pixels
        return result


def class_label(value: int, class_names: Mapping[int, str] | None) -> str:
    name = (class_names or {}).get(value)
    return name if name else f"class {value}"


# ---------------------------------------------------------------------------------------------
# Class names from a raster (GDAL category names, or a QGIS .qml next to it)
# ---------------------------------------------------------------------------------------------


def gdal_category_names(path: str, band: int = 1) -> dict[int, str]:
    """{value: name} from the band's GDAL category names (value = index), non-empty only."""
    try:
        ds = gdal.Open(path)
        names = ds.GetRasterBand(band).GetCategoryNames() or []
    except Exception:  # not a GDAL raster, or no such band: simply no names
        return {}
    return {i: n.strip() for i, n in enumerate(names) if n and n.strip()}


def qml_class_names(path: str) -> dict[int, str]:
    """{value: label} from the paletted renderer of a `.qml` saved next to the raster."""
    qml = Path(path).with_suffix(".qml")
    if not qml.is_file():
        return {}
    names: dict[int, str] = {}

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag != "paletteEntry":
            return
        try:
            value = int(float(attrs.get("value", "")))
        except ValueError:
            return
        label = (attrs.get("label") or "").strip()
        if label:
            names[value] = label

    try:
        _safe_xml_parse(qml.read_bytes(), start)
    except (expat.ExpatError, ValueError):
        return {}
    return names


def _safe_xml_parse(data: bytes, start: Any) -> None:
    """Stream XML through expat with entity declarations and external entities refused (a .qml
    has its DOCTYPE line but no internal subset), so a hostile file can neither expand entities
    nor reach external resources."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_args: object) -> None:
        raise ValueError("entity declarations are not allowed in a .qml")

    def doctype(_name: str, _system: str | None, _public: str | None, internal: int) -> None:
        if internal:
            refuse()

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.Parse(data, True)


def raster_class_names(path: str, band: int = 1) -> dict[int, str]:
    """Category names where present, else the labels of a sidecar `.qml`."""
    return gdal_category_names(path, band) or qml_class_names(path)


# ---------------------------------------------------------------------------------------------
# Grids and block reading
# ---------------------------------------------------------------------------------------------


def _srs(ds: gdal.Dataset) -> osr.SpatialReference | None:
    wkt = ds.GetProjection()
    if not wkt:
        return None
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
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
                with contextlib.suppress(RuntimeError):
                    gdal.Unlink(p)


def align_reference(pred_ds: gdal.Dataset, ref_path: str, ref_band: int = 1) -> AlignedReference:
    """The reference on the prediction's grid: itself when the grids match, else a warped VRT
    (nearest neighbour, an alpha band for the area the reference covers). Nothing is copied."""
    try:
        ref_ds = gdal.Open(ref_path)
    except RuntimeError as exc:
        raise EvaluationError(f"Cannot open the reference raster {ref_path}: {exc}") from exc
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
        source = gdal.Translate(path.replace(".vrt", "_band.vrt"), ref_ds, format="VRT",
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
    warped = gdal.Warp(path, source, options=options)
    if warped is None:
        raise EvaluationError(f"GDAL could not align the reference {ref_path}.")
    return AlignedReference(
        warped, 1, 2, "aligned onto the prediction grid (nearest neighbour, warped VRT)", path
    )


def _read_with_valid(
    ds: gdal.Dataset, band_no: int, x: int, y: int, w: int, h: int
) -> tuple[np.ndarray, np.ndarray]:
    band = ds.GetRasterBand(band_no)
    data = band.ReadAsArray(x, y, w, h)
    valid = np.ones(data.shape, bool)
    nodata = band.GetNoDataValue()
    if nodata is not None:
        valid &= ~(np.isnan(data) if math.isnan(nodata) else data == nodata)
    flags = band.GetMaskFlags()
    if not flags & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA):  # alpha band or explicit mask
        valid &= band.GetMaskBand().ReadAsArray(x, y, w, h) > 0
    return data, valid


# ---------------------------------------------------------------------------------------------
# The whole evaluation
# ---------------------------------------------------------------------------------------------


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
    try:
        pred_ds = gdal.Open(prediction)
    except RuntimeError as exc:
        raise EvaluationError(f"Cannot open the predicted raster {prediction}: {exc}") from exc
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
                ref_ok &= aligned.dataset.GetRasterBand(aligned.alpha_band).ReadAsArray(
                    0, y, w, n) > 0
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


# ---------------------------------------------------------------------------------------------
# HTML report
# ---------------------------------------------------------------------------------------------


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100 * v:.2f}" if pct else f"{v:.4f}"


def html_report(result: EvaluationResult, mapping: Mapping[int, int] | None = None,
                ignore_value: int | None = None) -> str:
    m = result.metrics
    esc = html.escape
    values, names = result.values, m["class_names"]
    head = "".join(f"<th>{esc(n)}<br><small>{v}</small></th>" for v, n in zip(values, names,
                                                                              strict=True))
    cm_rows = []
    cm = np.asarray(m["confusion_matrix"], np.int64)
    for i, (v, n) in enumerate(zip(values, names, strict=True)):
        cells = "".join(
            f"<td class='{'diag' if i == j else ''}'>{cm[i, j]}</td>" for j in range(len(values))
        )
        cm_rows.append(f"<tr><th>{esc(n)} <small>{v}</small></th>{cells}"
                       f"<td>{cm[i].sum()}</td></tr>")
    totals = "".join(f"<td>{c}</td>" for c in cm.sum(0))
    cm_rows.append(f"<tr><th>total</th>{totals}<td>{cm.sum()}</td></tr>")
    per_class = "".join(
        f"<tr><td>{esc(n)}</td><td>{v}</td><td>{_fmt(m['pa'][i])}</td>"
        f"<td>{_fmt(m['precision'][i])}</td><td>{_fmt(m['iou'][i])}</td>"
        f"<td>{_fmt(m['f1'][i])}</td><td>{m['support'][i]}</td><td>{m['predicted'][i]}</td></tr>"
        for i, (v, n) in enumerate(zip(values, names, strict=True))
    )
    mapping_s = ", ".join(f"{k}&rarr;{v}" for k, v in (mapping or {}).items()) or "none"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>UPSeg accuracy assessment</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }}
th, td {{ border: 1px solid #999; padding: 3px 8px; text-align: right; }}
th {{ background: #eee; }} td.diag {{ background: #d8f0d8; font-weight: bold; }}
</style></head><body>
<h1>Accuracy assessment</h1>
<p>Prediction: <code>{esc(result.inputs.get('prediction', ''))}</code><br>
Reference: <code>{esc(result.inputs.get('reference', ''))}</code> ({esc(result.alignment)})<br>
Class mapping (reference &rarr; predicted): {mapping_s}; ignore value:
{'none' if ignore_value is None else ignore_value}<br>
Pixels evaluated: {result.evaluated_pixels} of {result.total_pixels}
(ignored: nodata, outside the reference or ignore value: {result.ignored_pixels})</p>
<h2>Summary</h2>
<table><tr><th>OA (%)</th><th>mPA (%)</th><th>mIoU (%)</th><th>FWIoU (%)</th><th>mF1 (%)</th>
<th>Kappa</th></tr>
<tr><td>{_fmt(m['oa'])}</td><td>{_fmt(m['mpa'])}</td><td>{_fmt(m['miou'])}</td>
<td>{_fmt(m['fwiou'])}</td><td>{_fmt(m['mf1'])}</td><td>{_fmt(m['kappa'], pct=False)}</td></tr>
</table>
<h2>Confusion matrix</h2>
<p>Rows: reference; columns: prediction (pixel counts).</p>
<table><tr><th>reference \\ predicted</th>{head}<th>total</th></tr>
{''.join(cm_rows)}</table>
<h2>Per class</h2>
<table><tr><th>class</th><th>value</th><th>PA / recall (%)</th><th>precision / UA (%)</th>
<th>IoU (%)</th><th>F1 (%)</th><th>reference pixels</th><th>predicted pixels</th></tr>
{per_class}</table>
<p><small>PA = TP / reference pixels, precision = TP / predicted pixels, IoU = TP / (R + P - TP),
F1 = 2 TP / (R + P); mean values skip classes where the metric is undefined (n/a).
Metric code: upseg_qgis.core.metrics, shared with the training side.</small></p>
</body></html>
"""
