"""`upseg:segment`: optical + SAR layers -> a styled class raster (and optional confidence).

A thin layer over `upseg_qgis.core.run.pipeline.segment`: Processing parameters become the core's
option groups, the feedback becomes its progress/cancel/message callbacks, and core errors
become QgsProcessingException. Band order, units and normalisation come from the model's
metadata. The dialog shows first what an analyst sets (layers, model, outputs); tiling, units
and device are advanced parameters.
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsApplication,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterExtent,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsRasterLayer,
)

from ..plugin import qt_compat as qt
from ..plugin.layer_source import gdal_source
from ..plugin.model_access import model_parameter, resolve_parameter
from . import segment_parameters as shared
from .base import UPSegAlgorithm
from .class_style import ClassStylePostProcessor, model_classes
from .segment_help import help_text


class SegmentAlgorithm(UPSegAlgorithm):
    HELP_ANCHOR = "upseg-segment"
    OPTICAL = "OPTICAL"
    SAR = "SAR"
    OPTICAL_BANDS = "OPTICAL_BANDS"
    SAR_BANDS = "SAR_BANDS"
    OPTICAL_UNITS = shared.OPTICAL_UNITS
    SAR_UNITS = shared.SAR_UNITS
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    TILE_SIZE = shared.TILE_SIZE
    OVERLAP = shared.OVERLAP
    BATCH_SIZE = shared.BATCH_SIZE
    DEVICE = shared.DEVICE
    STRICT_DEVICE = "STRICT_DEVICE"
    TTA = "TTA"
    OUTPUT = "OUTPUT"
    OUTPUT_CONFIDENCE = "OUTPUT_CONFIDENCE"
    PROVIDER = "PROVIDER"
    TILE_COUNT = "TILE_COUNT"

    def name(self) -> str:
        return "segment"

    def displayName(self) -> str:
        return self.tr("Segment optical + SAR (UPSeg)")

    def tags(self) -> list[str]:
        return self.tr("segmentation,land cover,water,flood,sar,sentinel,onnx,upseg").split(",")

    def shortHelpString(self) -> str:
        return self.help_for_model(None)

    def help_for_model(self, model: str | None) -> str:
        """The help, starting with what MODEL's model expects (the dialog follows MODEL)."""
        from ..plugin.segment_dialog import model_help_html

        return model_help_html(model) + help_text(self.tr)

    def createCustomParametersWidget(self, parent: Any = None) -> Any:
        from ..plugin.segment_dialog import create_dialog

        return create_dialog(self, parent)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self._main_parameters()
        self._advanced_parameters()
        self.addOutput(QgsProcessingOutputString(self.PROVIDER,
                                                 self.tr("Execution provider that ran")))
        self.addOutput(QgsProcessingOutputNumber(self.TILE_COUNT, self.tr("Number of tiles")))

    def _main_parameters(self) -> None:
        """What an analyst sets: the layers, the model, the outputs; then where and which bands."""
        tr = self.tr
        self.addParameter(QgsProcessingParameterRasterLayer(self.OPTICAL, tr("Optical layer")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.SAR, tr("SAR layer")))
        self.addParameter(model_parameter(self.MODEL, tr))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Classes")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_CONFIDENCE, tr("Confidence (max class probability)"), None, True,
            False))
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, tr("Extent (empty: the optical layer)"), None, True))
        for name, parent, text in (
            (self.OPTICAL_BANDS, self.OPTICAL,
             tr("Optical bands, in the model's order (empty: chosen by their names)")),
            (self.SAR_BANDS, self.SAR,
             tr("SAR bands, in the model's order (empty: chosen by their names)")),
        ):
            self.addParameter(QgsProcessingParameterBand(name, text, None, parent, True, True))

    def _advanced_parameters(self) -> None:
        """Units, tiling and device: the model and the machine decide unless set."""
        tr = self.tr
        params = [
            *shared.unit_parameters(tr),
            *shared.tiling_parameters(tr, tr("Tiles per batch (empty: from the model or the "
                                             "device)")),
            shared.device_parameter(tr),
            QgsProcessingParameterBoolean(self.STRICT_DEVICE, tr(
                "Fail instead of falling back to the CPU when the device cannot run"), False),
            QgsProcessingParameterBoolean(self.TTA, tr(
                "Test-time augmentation (flipped tiles, logits averaged; 4x the model time)"),
                False),
        ]
        for p in params:
            self.addParameter(qt.advanced(p))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        self.require_runtime()
        # Imported here: the provider must load (and show this help) without onnxruntime.
        from ..core.run import pipeline

        tmp = QgsProcessingUtils.tempFolder()  # VRTs for layers QGIS sees differently from GDAL
        optical = self._gdal_layer(parameters, self.OPTICAL, context)
        sar = self._gdal_layer(parameters, self.SAR, context)
        optical_path = gdal_source(optical, tmp, "optical")
        sar_path = gdal_source(sar, tmp, "SAR")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        model = resolve_parameter(self.parameterAsFile(parameters, self.MODEL, context), feedback)
        confidence = None
        if parameters.get(self.OUTPUT_CONFIDENCE) not in (None, ""):
            confidence = self.parameterAsOutputLayer(parameters, self.OUTPUT_CONFIDENCE, context)
        try:
            result = pipeline.segment(
                optical_path, sar_path, output,
                model=str(model.path) if model.path else None,
                confidence=confidence or None,
                inputs=self._input_options(parameters, context, optical),
                tiling=shared.tiling_options(self, parameters, context),
                runtime=self._runtime_options(parameters, context),
                report=self._reporter(feedback),
            )
        except Exception as exc:  # noqa: BLE001 - each kind becomes a message that fits it
            raise self._processing_error(exc) from None
        if context.willLoadLayerOnCompletion(result.output):  # GUI runs; never qgis_process
            details = context.layerToLoadOnCompletionDetails(result.output)
            details.setPostProcessor(ClassStylePostProcessor.create(model_classes(result)))
        return {self.OUTPUT: result.output, self.OUTPUT_CONFIDENCE: result.confidence,
                self.PROVIDER: result.provider, self.TILE_COUNT: result.tile_count}

    def _input_options(self, parameters: dict[str, Any], context: QgsProcessingContext,
                       optical: QgsRasterLayer) -> Any:
        from ..core.run.options import InputOptions

        extent = None
        if parameters.get(self.EXTENT) not in (None, ""):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, optical.crs())
            if not rect.isNull() and not rect.isEmpty():
                extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        optical_units, sar_units = shared.units(self, parameters, context)
        return InputOptions(
            optical_bands=self.parameterAsInts(parameters, self.OPTICAL_BANDS, context) or None,
            sar_bands=self.parameterAsInts(parameters, self.SAR_BANDS, context) or None,
            optical_units=optical_units, sar_units=sar_units, extent=extent)

    def _runtime_options(self, parameters: dict[str, Any], context: QgsProcessingContext) -> Any:
        from ..core.run.options import RuntimeOptions

        threads = QgsApplication.maxThreads()  # Processing's "max threads" setting, -1 = all
        return RuntimeOptions(
            device=shared.device(self, parameters, context),
            strict_device=self.parameterAsBoolean(parameters, self.STRICT_DEVICE, context),
            threads=threads if threads > 0 else None,
            tta="flips" if self.parameterAsBoolean(parameters, self.TTA, context) else "none")

    @staticmethod
    def _reporter(feedback: QgsProcessingFeedback) -> Any:
        from ..core.run.reporting import Reporter

        shown = {"step": -1}

        def progress(fraction: float, message: str) -> None:
            feedback.setProgress(100.0 * fraction)
            step = int(fraction * 10)  # qgis_process prints every progress text: one per 10 %
            if step != shown["step"]:
                shown["step"] = step
                feedback.setProgressText(message)

        return Reporter(progress=progress, is_cancelled=feedback.isCanceled,
                        info=feedback.pushInfo, warn=feedback.pushWarning)

    def _processing_error(self, exc: Exception) -> QgsProcessingException:
        """The core's exception as what it is: cancelled, bad input, memory, or a bug."""
        from ..core.run import pipeline

        if isinstance(exc, QgsProcessingException):
            return exc
        if isinstance(exc, pipeline.CancelledError):
            return QgsProcessingException(self.tr("UPSeg segmentation cancelled: {reason}")
                                          .format(reason=exc))
        if isinstance(exc, pipeline.CORE_ERRORS):
            return QgsProcessingException(str(exc))
        if isinstance(exc, MemoryError):
            return QgsProcessingException(self.tr(
                "Out of memory. Lower TILE_SIZE or BATCH_SIZE, or set an EXTENT. No output was "
                "written."))
        return QgsProcessingException(self.tr(
            "UPSeg segmentation failed unexpectedly ({kind}: {error}). No output was written. "
            "Please report this with the log.").format(kind=type(exc).__name__, error=exc))

    def _gdal_layer(self, parameters: dict[str, Any], name: str,
                    context: QgsProcessingContext) -> QgsRasterLayer:
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException(self.invalidRasterError(parameters, name))
        return layer  # gdal_source refuses a layer that is not GDAL's
