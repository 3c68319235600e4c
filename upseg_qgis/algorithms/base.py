"""Shared behaviour of the UPSeg algorithms: group, icon, translation, help URL, runtime check,
GDAL calls that fail with a Processing error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication, QUrl
from qgis.PyQt.QtGui import QIcon

from ..core.raster.gdal_errors import RasterError, gdal_call, gdal_status
from ..dependencies.guard import runtime_message

T = TypeVar("T")

PLUGIN_DIR = Path(__file__).resolve().parent.parent
ICON_PATH = PLUGIN_DIR / "icon.svg"
# The project has no public home yet, so Help opens the user guide on disk: the copy that
# scripts/package.py puts in the plugin ZIP (docs/), else the checkout's. Each algorithm's help
# button opens its section (HELP_ANCHOR).
SHIPPED_GUIDE = PLUGIN_DIR / "docs" / "user_guide.md"
CHECKOUT_GUIDE = PLUGIN_DIR.parent / "docs" / "user_guide.md"
USER_GUIDE = SHIPPED_GUIDE if SHIPPED_GUIDE.is_file() else CHECKOUT_GUIDE
USER_GUIDE_URL = QUrl.fromLocalFile(str(USER_GUIDE)).toString()
TR_CONTEXT = "UPSeg"


def translate(text: str) -> str:
    """`text` in the user's language when a translation is installed (Qt's translator)."""
    return QCoreApplication.translate(TR_CONTEXT, text)


class UPSegAlgorithm(QgsProcessingAlgorithm):
    GROUP = "Segmentation"  # subclasses name their Toolbox group here
    HELP_ANCHOR = ""  # the algorithm's section in docs/user_guide.md (an explicit anchor)

    def createInstance(self) -> QgsProcessingAlgorithm:
        return type(self)()

    def tr(self, text: str) -> str:
        return translate(text)

    def group(self) -> str:
        return self.tr(self.GROUP)

    def helpUrl(self) -> str:
        return f"{USER_GUIDE_URL}#{self.HELP_ANCHOR}" if self.HELP_ANCHOR else USER_GUIDE_URL

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


def gdal_step(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A GDAL/OGR call returning an object; its failure becomes a QgsProcessingException naming
    `what`, in either GDAL exception mode (the plugin never switches the process-wide mode)."""
    try:
        return gdal_call(what, fn, *args, **kwargs)
    except RasterError as exc:
        raise QgsProcessingException(str(exc)) from None


def gdal_check(what: str, fn: Callable[..., int], *args: Any, **kwargs: Any) -> None:
    """The same for a GDAL/OGR call returning an error code."""
    try:
        gdal_status(what, fn, *args, **kwargs)
    except RasterError as exc:
        raise QgsProcessingException(str(exc)) from None
