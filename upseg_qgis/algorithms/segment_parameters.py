"""The advanced parameters `upseg:segment` and `upseg:segment_region` share: units, tiling and
device, declared once and read back once, so that the two algorithms cannot drift apart.

Names, defaults, texts and flags are part of the public interface (graphical modeler models and
qgis_process calls name them): change them here only on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
)

from ..plugin import qt_compat as qt

# Static strings (not indices) so modeler chains and qgis_process read `SAR_UNITS=sar_db`.
# The same vocabulary as core.metadata.INPUT_UNITS (a test checks), kept here so that the
# provider loads without numpy.
UNIT_OPTIONS = (
    "auto",
    "uint8_rendering",
    "reflectance",
    "reflectance_x10000",
    "reflectance_x10000_offset1000",
    "sar_db",
    "sar_linear",
)
DEVICE_OPTIONS = ("auto", "cuda", "tensorrt", "cpu")

OPTICAL_UNITS = "OPTICAL_UNITS"
SAR_UNITS = "SAR_UNITS"
TILE_SIZE = "TILE_SIZE"
OVERLAP = "OVERLAP"
BATCH_SIZE = "BATCH_SIZE"
DEVICE = "DEVICE"

Tr = Callable[[str], str]


def unit_parameters(tr: Tr) -> list[QgsProcessingParameterDefinition]:
    """OPTICAL_UNITS and SAR_UNITS: "auto" lets the model's metadata and the data decide."""
    return [
        QgsProcessingParameterEnum(OPTICAL_UNITS, tr("Optical units"), list(UNIT_OPTIONS), False,
                                   "auto", False, True),
        QgsProcessingParameterEnum(SAR_UNITS, tr("SAR units"), list(UNIT_OPTIONS), False, "auto",
                                   False, True),
    ]


def tiling_parameters(tr: Tr, batch_text: str) -> list[QgsProcessingParameterDefinition]:
    """TILE_SIZE, OVERLAP and BATCH_SIZE (described by `batch_text`, already translated: the
    two algorithms say differently who decides when it is empty)."""
    # Optional numbers without default: "not set" means "what the model says".
    return [
        QgsProcessingParameterNumber(TILE_SIZE, tr("Tile size in pixels (empty: from the model)"),
                                     qt.NUMBER_INTEGER, None, True, 16, 8192),
        QgsProcessingParameterNumber(OVERLAP, tr("Tile overlap in pixels (empty: from the model)"),
                                     qt.NUMBER_INTEGER, None, True, 0, 4096),
        QgsProcessingParameterNumber(BATCH_SIZE, batch_text, qt.NUMBER_INTEGER, None, True, 1,
                                     256),
    ]


def device_parameter(tr: Tr) -> QgsProcessingParameterDefinition:
    """DEVICE: "auto" takes the best execution provider this machine has."""
    return QgsProcessingParameterEnum(DEVICE, tr("Device"), list(DEVICE_OPTIONS), False, "auto",
                                      False, True)


def optional_int(alg: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str,
                 context: QgsProcessingContext) -> int | None:
    """An optional integer parameter; not set (None/'') means "what the model's metadata says"."""
    if parameters.get(name) in (None, ""):
        return None
    return alg.parameterAsInt(parameters, name, context)


def tiling_options(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                   context: QgsProcessingContext) -> Any:
    """The core's TilingOptions from TILE_SIZE, OVERLAP and BATCH_SIZE."""
    from ..core.run.options import TilingOptions

    return TilingOptions(tile_size=optional_int(alg, parameters, TILE_SIZE, context),
                         overlap=optional_int(alg, parameters, OVERLAP, context),
                         batch_size=optional_int(alg, parameters, BATCH_SIZE, context))


def units(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
          context: QgsProcessingContext) -> tuple[str, str]:
    """(optical, SAR) units as the option strings ("auto" unless set)."""
    return (alg.parameterAsEnumString(parameters, OPTICAL_UNITS, context),
            alg.parameterAsEnumString(parameters, SAR_UNITS, context))


def device(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
           context: QgsProcessingContext) -> str:
    return alg.parameterAsEnumString(parameters, DEVICE, context) or "auto"
