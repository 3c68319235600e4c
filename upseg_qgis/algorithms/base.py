"""Shared behaviour of the UPSeg algorithms: group, icon, runtime check, error wording."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtGui import QIcon

from ..dependencies import runtime_message

ICON_PATH = Path(__file__).resolve().parent.parent / "icon.svg"


class UPSegAlgorithm(QgsProcessingAlgorithm):
    GROUP = "Segmentation"  # subclasses name their Toolbox group here

    def createInstance(self) -> QgsProcessingAlgorithm:
        return type(self)()

    def group(self) -> str:
        return self.GROUP

    def groupId(self) -> str:
        return self.GROUP.lower()

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def require_runtime(self) -> None:
        """Stop with what to do when inference cannot run here (ONNX Runtime missing, a numpy
        that QGIS's GDAL or ONNX Runtime cannot use, a too old Python)."""
        message = runtime_message()
        if message:
            raise QgsProcessingException(message)
