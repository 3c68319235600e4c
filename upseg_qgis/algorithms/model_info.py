"""`upseg:model_info`: what a model file or catalogue model expects and produces.

Inputs (bands, units, resolution), classes with colours, tiling, licence and test metrics, from
the model's own metadata (or, for a catalogue model not downloaded yet, its catalogue entry): an
HTML report for the Results Viewer and the same as text in the log (what qgis_process prints).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
)

from ..core.contract.metadata import MetadataError
from ..core.contract.onnx_props import OnnxFileError
from ..core.models.catalogue import CatalogueError
from ..core.models.resolve import ModelNotFoundError, describe_model
from ..plugin import qt_compat as qt
from ..plugin.model_access import model_parameter, split_catalogues
from ..plugin.model_settings import store_config
from ..plugin.network import QgisTransport
from .base import UPSegAlgorithm
from .download_model import CATALOGUE_FILTER, catalogue_listing_html


class ModelInfoAlgorithm(UPSegAlgorithm):
    HELP_ANCHOR = "upseg-model-info"
    GROUP = "Models"
    MODEL = "MODEL"
    CATALOGUE = "CATALOGUE"
    OUTPUT_HTML = "OUTPUT_HTML"
    MODEL_NAME = "MODEL_NAME"
    TEXT = "TEXT"

    def name(self) -> str:
        return "model_info"

    def displayName(self) -> str:
        return self.tr("Model information (inputs, classes, licence, metrics)")

    def tags(self) -> list[str]:
        return self.tr("model,metadata,bands,classes,catalogue,licence,onnx,upseg").split(",")

    def shortHelpString(self) -> str:
        return self.tr(HELP_TEXT) + catalogue_listing_html()

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(model_parameter(self.MODEL, self.tr))
        self.addParameter(QgsProcessingParameterFile(
            self.CATALOGUE, self.tr("Extra catalogue: a file or an http(s) URL (several: separate "
            "with ';')"), qt.FILE_BEHAVIOR_FILE, "", None, True,
            CATALOGUE_FILTER))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, self.tr("Model report"), "HTML files (*.html)", None, True))
        self.addOutput(QgsProcessingOutputString(self.MODEL_NAME, self.tr("Model name")))

    def processAlgorithm(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        value = self.parameterAsFile(parameters, self.MODEL, context)
        extra = split_catalogues(self.parameterAsFile(parameters, self.CATALOGUE, context))
        try:
            report = describe_model(value, store_config(), QgisTransport(feedback), extra,
                                    info=feedback.pushInfo, warn=feedback.pushWarning)
        except (ModelNotFoundError, CatalogueError, MetadataError, OnnxFileError,
                OSError) as exc:
            raise QgsProcessingException(str(exc)) from None
        feedback.pushInfo(report.to_text())
        results: dict[str, Any] = {self.MODEL_NAME: report.title}
        html_path = self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context)
        if html_path:
            Path(html_path).write_text(report.to_html(), encoding="utf-8")
            results[self.OUTPUT_HTML] = html_path
        return results


HELP_TEXT = """<p>Shows what a model expects and produces before you run it: its optical and \
SAR inputs (which bands in which order, their units and the units it converts from, the \
normalisation), the ground resolution it was trained at, its classes with their colours, the \
tile size, its licence and citation, and the metrics measured on its test split.</p>
<p>The report opens in the Results Viewer (HTML) and is printed in the log, which is what \
<code>qgis_process run upseg:model_info -- MODEL=...</code> prints. A catalogue model that is not \
downloaded yet is described from its catalogue entry (nothing is downloaded).</p>
<h3>Parameters</h3>
<dl>
<dt>Model (MODEL)</dt><dd>An .onnx file exported by <code>python -m model_export export</code>, \
or a catalogue model id (list below). Empty: the embedded default model.</dd>
<dt>Extra catalogue (CATALOGUE)</dt><dd>A catalogue file or http(s) URL besides the configured \
ones.</dd>
<dt>Model report (OUTPUT_HTML)</dt><dd>The HTML report (a temporary file unless you choose \
one).</dd>
</dl>"""
