"""One Processing algorithm a module; `algorithm_classes()` is what the provider registers."""

from __future__ import annotations

import importlib
import traceback

from qgis.core import QgsMessageLog, QgsProcessingAlgorithm

from ..plugin import qt_compat as qt

# module name -> class name; add new algorithms here.
_ALGORITHMS: dict[str, str] = {
    "segment": "SegmentAlgorithm",
    "segment_region": "SegmentRegionAlgorithm",
    "evaluate": "EvaluateAlgorithm",
    "polygonize_classes": "PolygonizeClassesAlgorithm",
    "class_areas": "ClassAreasAlgorithm",
    "download_model": "DownloadModelAlgorithm",
    "model_info": "ModelInfoAlgorithm",
}


def algorithm_classes() -> list[type[QgsProcessingAlgorithm]]:
    """The algorithm classes that import; a broken one is logged, not fatal to the others."""
    classes = []
    for module, name in _ALGORITHMS.items():
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
            classes.append(getattr(mod, name))
        except Exception:  # keep the provider usable and say why one algorithm is missing
            QgsMessageLog.logMessage(
                f"UPSeg: algorithm '{module}' failed to load:\n{traceback.format_exc()}",
                "UPSeg",
                qt.CRITICAL,
            )
    return classes
