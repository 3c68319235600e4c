"""The `upseg` Processing provider."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..algorithms import algorithm_classes
from ..version import plugin_version
from . import model_settings

ICON_PATH = Path(__file__).resolve().parent.parent / "icon.svg"


class UPSegProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "upseg"

    def name(self) -> str:
        return "UPSeg"

    def longName(self) -> str:
        return f"UPSeg optical + SAR segmentation {plugin_version()}"

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def svgIconPath(self) -> str:
        return str(ICON_PATH)

    def load(self) -> bool:
        # The model settings on Processing's options page (Providers > UPSeg).
        model_settings.register(self.icon())
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        model_settings.unregister()

    def loadAlgorithms(self) -> None:
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
