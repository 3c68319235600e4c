"""`upseg:segment`: optical + SAR layers -> a styled class raster (and optional confidence).

A thin layer over `upseg_qgis.core.pipeline.segment`: Processing parameters become core
arguments, the feedback becomes progress/cancel callbacks, and core errors become
QgsProcessingException. Band order, units and normalisation come from the model's metadata.
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsApplication,
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
)
from qgis.PyQt.QtGui import QColor

from .. import qt_compat as qt
from ..model_access import MODEL_FILE_FILTER, resolve_parameter
from .base import UPSegAlgorithm

# Static strings (not indices) so modeler chains and qgis_process read `SAR_UNITS=sar_db`.
UNIT_OPTIONS = (
    "auto",
    "uint8_rendering",
    "reflectance",
    "reflectance_x10000",
    "sar_db",
    "sar_linear",
)
DEVICE_OPTIONS = ("auto", "cuda", "tensorrt", "cpu")


class SegmentAlgorithm(UPSegAlgorithm):
    OPTICAL = "OPTICAL"
    SAR = "SAR"
    OPTICAL_BANDS = "OPTICAL_BANDS"
    SAR_BANDS = "SAR_BANDS"
    OPTICAL_UNITS = "OPTICAL_UNITS"
    SAR_UNITS = "SAR_UNITS"
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    STRICT_DEVICE = "STRICT_DEVICE"
    OUTPUT = "OUTPUT"
    OUTPUT_CONFIDENCE = "OUTPUT_CONFIDENCE"
    PROVIDER = "PROVIDER"
    TILE_COUNT = "TILE_COUNT"

    def name(self) -> str:
        return "segment"

    def displayName(self) -> str:
        return "Segment optical + SAR (UPSeg)"

    def tags(self) -> list[str]:
        return ["segmentation", "land cover", "water", "flood", "sar", "sentinel", "onnx", "upseg"]

    def shortHelpString(self) -> str:
        return self.help_for_model(None)

    def help_for_model(self, model: str | None) -> str:
        """The help, starting with what MODEL's model expects (the dialog follows MODEL)."""
        from ..segment_dialog import model_help_html

        return model_help_html(model) + HELP_TEXT

    def createCustomParametersWidget(self, parent: Any = None) -> Any:
        from ..segment_dialog import create_dialog

        return create_dialog(self, parent)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(self.OPTICAL, "Optical layer"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.SAR, "SAR layer"))
        self.addParameter(
            QgsProcessingParameterBand(
                self.OPTICAL_BANDS,
                "Optical bands, in the model's order (empty: chosen from the model's metadata)",
                None,
                self.OPTICAL,
                True,
                True,
            )
        )
        self.addParameter(
            QgsProcessingParameterBand(
                self.SAR_BANDS,
                "SAR bands, in the model's order (empty: chosen from the model's metadata)",
                None,
                self.SAR,
                True,
                True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.OPTICAL_UNITS,
                "Optical units",
                list(UNIT_OPTIONS),
                False,
                "auto",
                False,
                True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.SAR_UNITS, "SAR units", list(UNIT_OPTIONS), False, "auto", False, True
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                "Model (an .onnx file or a catalogue model id; empty: the embedded default model)",
                qt.FILE_BEHAVIOR_FILE,
                "",
                None,
                True,
                MODEL_FILE_FILTER,
            )
        )
        self.addParameter(
            QgsProcessingParameterExtent(
                self.EXTENT, "Extent (empty: the optical layer)", None, True
            )
        )
        # Optional numbers without default: "not set" means "what the model's metadata says".
        tile = QgsProcessingParameterNumber(
            self.TILE_SIZE,
            "Tile size in pixels (empty: from the model)",
            qt.NUMBER_INTEGER,
            None,
            True,
            16,
            8192,
        )
        overlap = QgsProcessingParameterNumber(
            self.OVERLAP,
            "Tile overlap in pixels (empty: from the model)",
            qt.NUMBER_INTEGER,
            None,
            True,
            0,
            4096,
        )
        batch = QgsProcessingParameterNumber(
            self.BATCH_SIZE,
            "Tiles per batch (empty: from the model)",
            qt.NUMBER_INTEGER,
            None,
            True,
            1,
            256,
        )
        for p in (tile, overlap, batch):
            self.addParameter(p)
        self.addParameter(
            QgsProcessingParameterEnum(
                self.DEVICE, "Device", list(DEVICE_OPTIONS), False, "auto", False, True
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                self.STRICT_DEVICE,
                "Fail instead of falling back to the CPU when the device cannot run",
                False,
            )
        )
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Classes"))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.OUTPUT_CONFIDENCE,
                "Confidence (max class probability)",
                None,
                True,
                False,
            )
        )
        self.addOutput(QgsProcessingOutputString(self.PROVIDER, "Execution provider that ran"))
        self.addOutput(QgsProcessingOutputNumber(self.TILE_COUNT, "Number of tiles"))

    def processAlgorithm(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        self.require_runtime()
        # Imported here: the provider must load (and show this help) without onnxruntime.
        from ..core import pipeline

        optical = self._gdal_layer(parameters, self.OPTICAL, context)
        sar = self._gdal_layer(parameters, self.SAR, context)
        extent = None
        if parameters.get(self.EXTENT) not in (None, ""):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, optical.crs())
            if not rect.isNull() and not rect.isEmpty():
                extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        confidence = None
        if parameters.get(self.OUTPUT_CONFIDENCE) not in (None, ""):
            confidence = self.parameterAsOutputLayer(parameters, self.OUTPUT_CONFIDENCE, context)
        model = resolve_parameter(self.parameterAsFile(parameters, self.MODEL, context), feedback)
        threads = QgsApplication.maxThreads()  # Processing's "max threads" setting, -1 = all

        shown = {"step": -1}

        def progress(fraction: float, message: str) -> None:
            feedback.setProgress(100.0 * fraction)
            # qgis_process prints every progress text: one line per 10% is enough.
            step = int(fraction * 10)
            if step != shown["step"]:
                shown["step"] = step
                feedback.setProgressText(message)

        try:
            result = pipeline.segment(
                optical.source(),
                sar.source(),
                output,
                model=str(model.path) if model.path else None,
                optical_bands=self.parameterAsInts(parameters, self.OPTICAL_BANDS, context) or None,
                sar_bands=self.parameterAsInts(parameters, self.SAR_BANDS, context) or None,
                optical_units=self.parameterAsEnumString(parameters, self.OPTICAL_UNITS, context),
                sar_units=self.parameterAsEnumString(parameters, self.SAR_UNITS, context),
                extent=extent,
                tile_size=self._optional_int(parameters, self.TILE_SIZE, context),
                overlap=self._optional_int(parameters, self.OVERLAP, context),
                batch_size=self._optional_int(parameters, self.BATCH_SIZE, context),
                device=self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto",
                strict_device=self.parameterAsBoolean(parameters, self.STRICT_DEVICE, context),
                threads=threads if threads > 0 else None,
                confidence=confidence or None,
                progress=progress,
                is_cancelled=feedback.isCanceled,
                info=feedback.pushInfo,
                warn=feedback.pushWarning,
            )
        except pipeline.CancelledError as exc:
            raise QgsProcessingException(f"UPSeg segmentation cancelled: {exc}") from None
        except pipeline.CORE_ERRORS as exc:
            raise QgsProcessingException(str(exc)) from None
        except MemoryError:
            raise QgsProcessingException(
                "Out of memory. Lower TILE_SIZE or BATCH_SIZE, or set an EXTENT."
            ) from None
        except Exception as exc:  # noqa: BLE001 - e.g. ONNX Runtime failing mid-run
            raise QgsProcessingException(
                f"UPSeg segmentation failed: {exc}. If the GPU ran out of memory, lower "
                "BATCH_SIZE or TILE_SIZE, or set DEVICE to cpu. No output was written."
            ) from None

        if context.willLoadLayerOnCompletion(result.output):  # GUI runs; never qgis_process
            details = context.layerToLoadOnCompletionDetails(result.output)
            details.setPostProcessor(ClassStylePostProcessor.create(_model_classes(result)))
        return {
            self.OUTPUT: result.output,
            self.OUTPUT_CONFIDENCE: result.confidence,
            self.PROVIDER: result.provider,
            self.TILE_COUNT: result.tile_count,
        }

    def _gdal_layer(
        self, parameters: dict[str, Any], name: str, context: QgsProcessingContext
    ) -> QgsRasterLayer:
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException(self.invalidRasterError(parameters, name))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                f"{name} comes from the '{layer.providerType()}' data provider; UPSeg reads "
                "rasters through GDAL. Save the layer as a GeoTIFF first (Export > Save As)."
            )
        return layer

    def _optional_int(
        self, parameters: dict[str, Any], name: str, context: QgsProcessingContext
    ) -> int | None:
        # Not set (None/'') means "what the model's metadata says".
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsInt(parameters, name, context)


def _model_classes(result: Any) -> list[tuple[int, str, str]]:
    """(value, colour, name) of the model's classes."""
    return [(c.value, c.colour, c.name) for c in result.classes]


class ClassStylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Paletted style with the model's class names when the GUI loads the class raster.

    The .qml next to the output already gives the same style; this makes it explicit and keeps
    it when the layer is loaded from a temporary output. Processing keeps only a C++ pointer to
    a post-processor, so instances are kept alive here.
    """

    _instances: list[ClassStylePostProcessor] = []

    def __init__(self, classes: list[tuple[int, str, str]]) -> None:
        super().__init__()
        self.classes = classes

    @classmethod
    def create(cls, classes: list[tuple[int, str, str]]) -> ClassStylePostProcessor:
        inst = cls(classes)
        cls._instances = [*cls._instances[-15:], inst]  # bounded: old runs are long done
        return inst

    def postProcessLayer(
        self, layer: QgsMapLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:
        if not isinstance(layer, QgsRasterLayer) or not self.classes:
            return
        palette = [
            QgsPalettedRasterRenderer.Class(value, QColor(colour), name)
            for value, colour, name in self.classes
        ]
        layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, palette))
        layer.triggerRepaint()


HELP_TEXT = """<p>Segments an optical layer and a SAR layer together with an UPSeg model \
(ONNX Runtime) into a class raster (land cover, or water / not water for the embedded model), \
styled with the model's class names and colours.</p>
<p><b>The model decides the inputs.</b> Which bands in which order, their units (8-bit \
rendering, reflectance, reflectance x 10000, SAR dB or linear), the conversion from your units \
to the model's, clipping and mean/std normalisation, the classes and the default tiling all \
come from the metadata stored in the model file. The plugin applies exactly that and guesses \
nothing else.</p>
<h3>Parameters</h3>
<dl>
<dt>Optical layer (OPTICAL)</dt><dd>e.g. Sentinel-2 (raw reflectance x 10000; a 13-band file is \
fine), an 8-bit true-colour rendering, Gaofen. Its pixel grid is the output grid.</dd>
<dt>SAR layer (SAR)</dt><dd>e.g. Sentinel-1 VV/VH in dB or linear power, GF-3. Any CRS, \
resolution, extent and data type: it is resampled onto the optical grid on the fly (bilinear, or \
average when its pixels are much finer), never copied as a whole. Where it does not cover the \
optical layer the output is nodata; when the layers do not overlap at all, the algorithm stops \
with an error.</dd>
<dt>Optical bands, in the model's order (OPTICAL_BANDS)</dt><dd>Band numbers feeding the model's \
optical bands, in its order. Empty: the bands whose descriptions match the model's band names \
(e.g. B4, B3, B2 out of a 13-band Sentinel-2 file), else the first bands, with a warning. The \
count must match the model.</dd>
<dt>SAR bands, in the model's order (SAR_BANDS)</dt><dd>The same for the SAR layer (e.g. VV out \
of a VV/VH file).</dd>
<dt>Optical units (OPTICAL_UNITS)</dt><dd>auto detects the units from the data type and value \
statistics, among the units the model accepts (8-bit data: uint8_rendering; integers in the \
thousands: reflectance_x10000; fractions: reflectance). Set them when detection picks wrong; \
units the model does not accept are refused.</dd>
<dt>SAR units (SAR_UNITS)</dt><dd>The same for the SAR layer (mostly negative floats: sar_db; \
small positive floats: sar_linear).</dd>
<dt>Model (MODEL)</dt><dd>An .onnx file exported by <code>python -m model_export export</code>, \
or the id of a model in a catalogue (e.g. <code>upseg-tiny-ombria-water</code>; the drop-down \
under MODEL lists them): it is downloaded into your models folder on first use and its SHA-256 \
checked (<code>upseg:download_model</code> does it ahead of time; <code>upseg:model_info</code> \
shows what it expects). Empty: the embedded default model (water / not water from Sentinel-1 + \
Sentinel-2, trained on OMBRIA). The box at the top of this help describes the selected model.</dd>
<dt>Extent (EXTENT)</dt><dd>Process only this part of the optical layer (in any CRS; snapped \
outward to the optical pixels). Empty: the whole optical layer.</dd>
<dt>Tile size in pixels (TILE_SIZE)</dt><dd>Empty: the model's own value. Lower it when memory \
runs short.</dd>
<dt>Tile overlap in pixels (OVERLAP)</dt><dd>Empty: the model's own value. Overlapping tiles' \
logits are blended with smooth weights, so there are no seams. Less than half the tile.</dd>
<dt>Tiles per batch (BATCH_SIZE)</dt><dd>Empty: the model's value, else 4. Raise it on a GPU \
with memory to spare; progress and cancellation work batch by batch.</dd>
<dt>Device (DEVICE)</dt><dd>auto: CUDA when onnxruntime-gpu can use it, else the CPU. cuda, \
tensorrt: ask for that GPU provider (TensorRT builds its engines on the first run, then caches \
them). cpu: the CPU only. A GPU that cannot run falls back to the CPU with a warning; the \
provider that actually ran is logged and returned as PROVIDER.</dd>
<dt>Fail instead of falling back to the CPU when the device cannot run (STRICT_DEVICE)</dt><dd>\
Stop with an error rather than run on the CPU.</dd>
<dt>Classes (OUTPUT)</dt><dd>GeoTIFF (tiled, DEFLATE), uint8 class values, nodata where either \
input is missing, with a colour table and category names inside and a .qml style beside it.</dd>
<dt>Confidence (OUTPUT_CONFIDENCE)</dt><dd>Optional GeoTIFF, float32: the probability of the \
chosen class (softmax of the blended logits); -1 where there is no data.</dd>
</dl>
<p>Outputs also include PROVIDER (the ONNX Runtime execution provider that ran) and TILE_COUNT. \
The log lists the bands and units used, the tile count, the time per stage and the throughput. \
Cancelling stops within one batch and removes the partial output; an error never leaves a \
half-written file.</p>"""
