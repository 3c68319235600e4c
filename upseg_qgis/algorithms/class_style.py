"""The model's paletted style on the class raster when the Toolbox dialog loads it."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
)
from qgis.PyQt.QtGui import QColor


def model_classes(result: Any) -> list[tuple[int, str, str]]:
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
