"""Shared behaviour of the UPSeg algorithms: group, icon, runtime check, error wording."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtGui import QIcon

from ..dependencies import install_instructions, runtime_problems

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
        """Stop with exact install instructions when ONNX Runtime or numpy 1.x is missing."""
        problems = runtime_problems()
        if problems:
            raise QgsProcessingException(" ".join(problems) + "\n" + install_instructions())
