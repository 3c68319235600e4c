"""A raster layer as QGIS resolves it, for GDAL: `layer.source()` alone loses what the user set
in QGIS on top of the file (a CRS override in Layer Properties, open options in the URI). Such
layers are handed to GDAL as a small VRT over the file that carries them. Every algorithm that
hands a raster layer to GDAL goes through `gdal_source` (segment, segment_region, evaluate,
class_areas, polygonize)."""

from __future__ import annotations

from pathlib import Path

from osgeo import gdal, osr
from qgis.core import (
    QgsProcessingException,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsRasterLayer,
)


def _file_crs_differs(dataset: gdal.Dataset, layer: QgsRasterLayer) -> bool:
    crs = layer.crs()
    if not crs.isValid():
        return False
    wkt = dataset.GetProjection()
    if not wkt:
        return True  # the file has none: the CRS exists only in QGIS
    file_srs, layer_srs = osr.SpatialReference(), osr.SpatialReference()
    file_srs.ImportFromWkt(wkt)
    layer_srs.ImportFromWkt(crs.toWkt())
    return not file_srs.IsSame(layer_srs)


def layer_file(layer: QgsRasterLayer) -> str:
    """The file (or GDAL name) under a GDAL layer's URI, without QGIS's `|option:...` parts."""
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    return str(parts.get("path") or layer.source())


def _require_gdal(layer: QgsRasterLayer, what: str) -> None:
    """Other providers (WMS, XYZ, ...) have no file GDAL could stream here."""
    if layer.providerType() != "gdal":
        role = f"The {what} layer" if what else "Layer"
        raise QgsProcessingException(
            f"{role} '{layer.name()}' comes from the '{layer.providerType()}' data provider; "
            f"UPSeg reads rasters through GDAL. Save it as a GeoTIFF first (Export > Save As).")


def gdal_source(layer: QgsRasterLayer, folder: str | Path | None = None, what: str = "") -> str:
    """The layer's file as GDAL should read it: the source itself, or a VRT in `folder`
    (Processing's temporary folder by default) with the layer's CRS and open options when QGIS
    sees the file differently from GDAL. `what` names the layer's role in the error for a
    layer that is not GDAL's."""
    _require_gdal(layer, what)
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    path = layer_file(layer)
    options = [str(o) for o in (parts.get("openOptions") or [])]
    dataset = gdal.OpenEx(path, gdal.OF_RASTER | gdal.OF_READONLY, open_options=options)
    if dataset is None:
        return layer.source()  # the caller reports the unreadable file with its own message
    if not options and not _file_crs_differs(dataset, layer):
        return layer.source()
    folder = Path(folder if folder is not None else QgsProcessingUtils.tempFolder())
    folder.mkdir(parents=True, exist_ok=True)
    vrt = str(folder / f"{layer.id() or 'layer'}.vrt")
    translated = gdal.Translate(vrt, dataset, format="VRT",
                                outputSRS=layer.crs().toWkt() if layer.crs().isValid() else None)
    if translated is None:
        raise QgsProcessingException(
            f"Cannot hand layer '{layer.name()}' with its QGIS CRS or open options to GDAL "
            f"({gdal.GetLastErrorMsg()}). Save it as a GeoTIFF first (Export > Save As).")
    translated = None  # flush the VRT to disk
    return vrt
