"""`upseg:segment`: optical + SAR layers -> a styled class raster (and optional confidence).

A thin layer over `upseg_qgis.core.pipeline.segment`: Processing parameters become core
arguments, the feedback becomes progress/cancel callbacks, and core errors become
QgsProcessingException. Band order, units and normalisation come from the model's metadata.
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
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
)

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
        return HELP_TEXT

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(self.OPTICAL, "Optical layer"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.SAR, "SAR layer"))
        self.addParameter(
            QgsProcessingParameterBand(
                self.OPTICAL_BANDS,
                "Optical bands, in the model's order (empty: from the model's metadata)",
                None,
                self.OPTICAL,
                True,
                True,
            )
        )
        self.addParameter(
            QgsProcessingParameterBand(
                self.SAR_BANDS,
                "SAR bands, in the model's order (empty: from the model's metadata)",
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
                "Model (ONNX exported by model_export; empty: the embedded default model)",
                QgsProcessingParameterFile.File,
                "",
                None,
                True,
                "ONNX models (*.onnx)",
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
            QgsProcessingParameterNumber.Integer,
            None,
            True,
            16,
            8192,
        )
        overlap = QgsProcessingParameterNumber(
            self.OVERLAP,
            "Tile overlap in pixels (empty: from the model)",
            QgsProcessingParameterNumber.Integer,
            None,
            True,
            0,
            4096,
        )
        batch = QgsProcessingParameterNumber(
            self.BATCH_SIZE,
            "Tiles per batch (empty: from the model)",
            QgsProcessingParameterNumber.Integer,
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
        raise QgsProcessingException("upseg:segment is not implemented yet.")


HELP_TEXT = """<p>Segments an optical layer and a SAR layer together with an UPSeg model \
(ONNX Runtime) into a class raster styled with the model's class names and colours.</p>
<p>Everything about the model's inputs (which bands in which order, their units, dB or linear SAR, \
scaling, clipping, mean/std normalisation), its classes and its default tiling comes from the \
metadata stored in the model file: nothing is guessed beyond what it allows.</p>"""
