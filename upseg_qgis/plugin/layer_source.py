"""A raster layer as QGIS resolves it, for GDAL: `layer.source()` alone loses what the user set
in QGIS on top of the file (a CRS override in Layer Properties, open options in the URI). Such
layers are handed to the inference core as a small VRT over the file that carries them."""

from __future__ import annotations

from pathlib import Path

from osgeo import gdal, osr
from qgis.core import QgsProcessingException, QgsProviderRegistry, QgsRasterLayer


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


def gdal_source(layer: QgsRasterLayer, folder: str | Path) -> str:
    """The layer's file as GDAL should read it: the source itself, or a VRT in `folder` with the
    layer's CRS and open options when QGIS sees the file differently from GDAL."""
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    path = str(parts.get("path") or layer.source())
    options = [str(o) for o in (parts.get("openOptions") or [])]
    dataset = gdal.OpenEx(path, gdal.OF_RASTER | gdal.OF_READONLY, open_options=options)
    if dataset is None:
        return layer.source()  # the core reports the unreadable file with its own message
    if not options and not _file_crs_differs(dataset, layer):
        return layer.source()
    Path(folder).mkdir(parents=True, exist_ok=True)
    vrt = str(Path(folder) / f"{layer.id() or 'layer'}.vrt")
    translated = gdal.Translate(vrt, dataset, format="VRT",
                                outputSRS=layer.crs().toWkt() if layer.crs().isValid() else None)
    if translated is None:
        raise QgsProcessingException(
            f"Cannot hand layer '{layer.name()}' with its QGIS CRS or open options to GDAL "
            f"({gdal.GetLastErrorMsg()}). Save it as a GeoTIFF first (Export > Save As).")
    translated = None  # flush the VRT to disk
    return vrt
