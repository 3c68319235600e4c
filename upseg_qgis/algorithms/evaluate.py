"""`upseg:evaluate`: accuracy of a predicted class raster against a reference raster.

A thin layer over `upseg_qgis.core.accuracy.evaluation` (streamed confusion matrix, reference
aligned on the fly) whose metric code is the training side's, so the numbers match `model_export
evaluate`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFields,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMatrix,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsRasterLayer,
)

from ..core.accuracy.evaluation import (
    EvaluationError,
    evaluate_rasters,
    mapping_from_table,
    parse_class_mapping,
    raster_class_names,
)
from ..core.accuracy.report import html_report
from ..plugin import qt_compat as qt
from ..plugin.layer_source import gdal_source, layer_file
from .base import UPSegAlgorithm


def layer_class_names(layer: QgsRasterLayer, band: int = 1) -> dict[int, str]:
    """Class names of a class raster: GDAL category names, a sidecar .qml, or the labels of the
    layer's paletted style in this QGIS session, in that order."""
    names = raster_class_names(layer_file(layer), band) if layer.providerType() == "gdal" else {}
    if names:
        return names
    renderer = layer.renderer()
    if isinstance(renderer, QgsPalettedRasterRenderer) and renderer.band() == band:
        return {int(c.value): c.label for c in renderer.classes() if c.label}
    return {}


def _none_if_nan(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _field_suffix(value: int) -> str:
    return f"m{-value}" if value < 0 else str(value)


class EvaluateAlgorithm(UPSegAlgorithm):
    GROUP = "Analysis"
    HELP_ANCHOR = "upseg-evaluate"
    PREDICTION = "PREDICTION"
    PREDICTION_BAND = "PREDICTION_BAND"
    REFERENCE = "REFERENCE"
    REFERENCE_BAND = "REFERENCE_BAND"
    CLASS_MAPPING = "CLASS_MAPPING"
    CLASS_MAPPING_TABLE = "CLASS_MAPPING_TABLE"
    IGNORE_VALUE = "IGNORE_VALUE"
    OUTPUT = "OUTPUT"
    OUTPUT_HTML = "OUTPUT_HTML"
    OA, MPA, MIOU, FWIOU, MF1, KAPPA = "OA", "MPA", "MIOU", "FWIOU", "MF1", "KAPPA"
    F1_PER_CLASS = "F1_PER_CLASS"
    METRICS_JSON = "METRICS_JSON"
    EVALUATED_PIXELS = "EVALUATED_PIXELS"

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:
        return self.tr("Accuracy assessment (confusion matrix, OA, mPA, mIoU, Kappa)")

    def tags(self) -> list[str]:
        return self.tr("accuracy,confusion matrix,kappa,iou,miou,f1,validation").split(",")

    def shortHelpString(self) -> str:
        return self.tr(HELP_TEXT)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        tr = self.tr
        self.addParameter(QgsProcessingParameterRasterLayer(self.PREDICTION,
                                                            tr("Predicted class raster")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.REFERENCE, tr("Reference (ground truth) raster, any CRS and grid")))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, tr("Confusion matrix"), qt.SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, tr("Accuracy report (HTML)"), tr("HTML files (*.html)"), None,
            True, True))
        self.addParameter(QgsProcessingParameterBand(self.PREDICTION_BAND, tr("Predicted band"),
                                                     1, self.PREDICTION, True))
        self.addParameter(QgsProcessingParameterBand(self.REFERENCE_BAND, tr("Reference band"),
                                                     1, self.REFERENCE, True))
        self.addParameter(QgsProcessingParameterString(
            self.CLASS_MAPPING,
            tr("Class mapping 'reference value:predicted value, ...' (e.g. 10:1, 20:2)"),
            "", False, True))
        self.addParameter(QgsProcessingParameterMatrix(
            self.CLASS_MAPPING_TABLE, tr("Class mapping table (reference value, predicted value)"),
            0, False, [tr("Reference value"), tr("Predicted value")], None, True))
        self.addParameter(QgsProcessingParameterNumber(
            self.IGNORE_VALUE, tr("Ignore reference value (e.g. 255 or -1)"),
            qt.NUMBER_INTEGER, None, True))
        for key, label in ((self.OA, tr("Overall accuracy (0-1)")),
                           (self.MPA, tr("Mean pixel accuracy, mPA (0-1)")),
                           (self.MIOU, tr("Mean IoU (0-1)")),
                           (self.FWIOU, tr("Frequency-weighted IoU (0-1)")),
                           (self.MF1, tr("Mean F1 (0-1)")),
                           (self.KAPPA, tr("Cohen's kappa")),
                           (self.EVALUATED_PIXELS, tr("Pixels evaluated"))):
            self.addOutput(QgsProcessingOutputNumber(key, label))
        self.addOutput(QgsProcessingOutputString(self.F1_PER_CLASS, tr("F1 per class (JSON)")))
        self.addOutput(QgsProcessingOutputString(self.METRICS_JSON, tr("All metrics (JSON)")))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        pred_layer = self.parameterAsRasterLayer(parameters, self.PREDICTION, context)
        ref_layer = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        if pred_layer is None or ref_layer is None:
            raise QgsProcessingException(
                self.tr("Both the predicted and the reference raster are needed."))
        pred_band = self.parameterAsInt(parameters, self.PREDICTION_BAND, context) or 1
        ref_band = self.parameterAsInt(parameters, self.REFERENCE_BAND, context) or 1
        mapping = self._mapping(parameters, context)
        ignore = self._ignore_value(parameters, context)
        names = layer_class_names(pred_layer, pred_band)
        if mapping:
            feedback.pushInfo(self.tr("Class mapping (reference -> predicted): {pairs}").format(
                pairs=", ".join(f"{k}->{v}" for k, v in mapping.items())))
        try:
            result = evaluate_rasters(
                gdal_source(pred_layer, what="predicted"),
                gdal_source(ref_layer, what="reference"),
                pred_band, ref_band, mapping, ignore, names or None,
                progress=feedback.setProgress, cancelled=feedback.isCanceled)
        except EvaluationError as exc:
            raise QgsProcessingException(str(exc)) from exc
        m = result.metrics
        feedback.pushInfo(self.tr("Reference: {how}.").format(how=result.alignment))
        feedback.pushInfo(self.tr("Pixels evaluated: {n} of {total}; ignored: {ignored}.").format(
            n=result.evaluated_pixels, total=result.total_pixels, ignored=result.ignored_pixels))
        feedback.pushInfo(
            "OA {:.4f}  mPA {:.4f}  mIoU {:.4f}  FWIoU {:.4f}  Kappa {:.4f}".format(
                m["oa"], m["mpa"], m["miou"], m["fwiou"], m["kappa"]))
        outputs: dict[str, Any] = {self.OUTPUT: self._write_table(parameters, context, result)}
        html_path = self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context)
        if html_path:
            Path(html_path).write_text(html_report(result, mapping, ignore), encoding="utf-8")
            outputs[self.OUTPUT_HTML] = html_path
        outputs.update({
            self.OA: _none_if_nan(m["oa"]), self.MPA: _none_if_nan(m["mpa"]),
            self.MIOU: _none_if_nan(m["miou"]), self.FWIOU: _none_if_nan(m["fwiou"]),
            self.MF1: _none_if_nan(m["mf1"]), self.KAPPA: _none_if_nan(m["kappa"]),
            self.EVALUATED_PIXELS: result.evaluated_pixels,
            self.F1_PER_CLASS: json.dumps(result.f1_per_class()),
            self.METRICS_JSON: result.to_json(),
        })
        return outputs

    def _mapping(self, parameters: dict[str, Any], context: QgsProcessingContext
                 ) -> dict[int, int]:
        """The class mapping from the text and the table together (they must agree)."""
        try:
            mapping = parse_class_mapping(
                self.parameterAsString(parameters, self.CLASS_MAPPING, context))
            table = mapping_from_table(
                self.parameterAsMatrix(parameters, self.CLASS_MAPPING_TABLE, context))
        except EvaluationError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for ref, pred in table.items():
            if mapping.get(ref, pred) != pred:
                raise QgsProcessingException(self.tr(
                    "Reference value {ref} is mapped to {text} in the text and to {table} in the "
                    "table.").format(ref=ref, text=mapping[ref], table=pred))
            mapping[ref] = pred
        return mapping

    def _ignore_value(self, parameters: dict[str, Any], context: QgsProcessingContext
                      ) -> int | None:
        # Unset arrives as None, "" or a NULL QVariant; parameterAsInt would turn those into 0.
        raw = parameters.get(self.IGNORE_VALUE)
        if raw is None or str(raw).strip() in ("", "NULL"):
            return None
        return self.parameterAsInt(parameters, self.IGNORE_VALUE, context)

    def _write_table(self, parameters: dict[str, Any], context: QgsProcessingContext,
                     result: Any) -> str:
        """The confusion matrix as a table: one row per reference class, then the totals."""
        m, values = result.metrics, result.values
        fields = QgsFields()
        fields.append(qt.field("reference", "int"))
        fields.append(qt.field("ref_name", "string"))
        for v in values:
            fields.append(qt.field(f"pred_{_field_suffix(v)}", "int64"))
        fields.append(qt.field("total", "int64"))
        for name in ("pa", "precision", "iou", "f1"):
            fields.append(qt.field(name, "double"))
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                             qt.WKB_NO_GEOMETRY,
                                             QgsCoordinateReferenceSystem())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        cm = m["confusion_matrix"]
        for i, v in enumerate(values):
            f = QgsFeature(fields)
            f.setAttributes([v, m["class_names"][i], *cm[i], sum(cm[i]),
                             _none_if_nan(m["pa"][i]), _none_if_nan(m["precision"][i]),
                             _none_if_nan(m["iou"][i]), _none_if_nan(m["f1"][i])])
            sink.addFeature(f, qt.FAST_INSERT)
        totals = QgsFeature(fields)
        col_sums = [sum(row[j] for row in cm) for j in range(len(values))]
        totals.setAttributes([None, self.tr("(predicted total)"), *col_sums, sum(col_sums),
                              None, None, None, None])
        sink.addFeature(totals, qt.FAST_INSERT)
        return dest_id


HELP_TEXT = """<p>Compares a predicted class raster (e.g. the output of \
<i>Segment optical + SAR</i>) with a reference raster and reports the confusion matrix, \
overall accuracy (OA), mean pixel accuracy (mPA), mean IoU, frequency-weighted IoU, mean F1, \
Cohen's kappa and F1 per class.</p>
<h3>Grids</h3><p>The prediction's grid is the evaluation grid. The reference may have any CRS, \
resolution and extent: it is aligned onto the prediction on the fly with nearest neighbour \
(a warped VRT, read block by block; nothing is copied). Pixels outside the reference, nodata \
pixels of either raster and pixels whose reference value is the <b>ignore value</b> are not \
counted.</p>
<h3>Class mapping</h3><p>When the reference codes classes differently, map them: \
<code>10:1, 20:2</code> (reference value : predicted value), as text or in the table. Values not \
listed stay as they are. Mapping a reference value to the ignore value ignores it.</p>
<h3>Outputs</h3><ul>
<li><b>Confusion matrix</b>: a table (no geometry), one row per reference class with pixel \
counts per predicted class (<code>pred_&lt;value&gt;</code>, negative values as \
<code>pred_m1</code>), the row total, and PA (recall), precision, IoU and F1 of the class; a last \
row holds the predicted totals.</li>
<li>OA, MPA, MIOU, FWIOU, MF1 as ratios 0-1, KAPPA, EVALUATED_PIXELS as numbers, F1_PER_CLASS and \
METRICS_JSON as JSON strings: all usable in the graphical modeler.</li>
<li>An HTML report with the same numbers.</li></ul>
<p>Class names come from the predicted raster's category names (or its .qml style). Classes that \
occur in neither map are left out; a metric that is undefined for a class (e.g. PA of a class \
absent from the reference) is empty and skipped by the means. The formulas are those of the \
training side (<code>python -m model_export evaluate</code>), shared code.</p>"""
