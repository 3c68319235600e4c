"""`upseg:polygonize`: class raster -> polygons with class value, class name and area (ha).

A minimum mapping unit (MMU, hectares) either merges smaller patches into their largest
neighbour with GDAL's sieve before polygonizing (the classic, honest way: no gaps appear) or
drops the smaller polygons afterwards.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from typing import Any

from osgeo import gdal, ogr, osr
from qgis.core import (
    QgsFeature,
    QgsFields,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
)

from ..plugin import qt_compat as qt
from ..plugin.layer_source import gdal_source
from .base import UPSegAlgorithm, gdal_check, gdal_step, translate
from .class_areas import AREA_METHODS, area_ha, distance_area, row_pixel_areas_ha
from .evaluate import layer_class_names

MMU_MODES = ("Merge into the largest neighbour (GDAL sieve), then drop what is left",
             "Drop smaller polygons")
CONNECTIVITY = ("4 (edges)", "8 (edges and corners)")


class _GdalProgress:
    """A GDAL progress callback mapped onto part of the feedback's range; stops on cancel."""

    def __init__(self, feedback: QgsProcessingFeedback, start: float, end: float) -> None:
        self.feedback, self.start, self.end = feedback, start, end

    def __call__(self, complete: float, message: Any = None, data: Any = None) -> int:
        self.feedback.setProgress(self.start + (self.end - self.start) * complete)
        return 0 if self.feedback.isCanceled() else 1


class PolygonizeClassesAlgorithm(UPSegAlgorithm):
    GROUP = "Analysis"
    HELP_ANCHOR = "upseg-polygonize"
    INPUT = "INPUT"
    BAND = "BAND"
    MMU_HA = "MMU_HA"
    MMU_MODE = "MMU_MODE"
    CONNECTIVITY = "CONNECTIVITY"
    AREA_METHOD = "AREA_METHOD"
    OUTPUT = "OUTPUT"
    POLYGON_COUNT = "POLYGON_COUNT"
    DROPPED_COUNT = "DROPPED_COUNT"
    SIEVE_PIXELS = "SIEVE_PIXELS"

    def name(self) -> str:
        return "polygonize"

    def displayName(self) -> str:
        return self.tr("Polygonize classes (with names, areas, minimum mapping unit)")

    def tags(self) -> list[str]:
        return self.tr("polygonize,vector,sieve,minimum mapping unit,mmu,area").split(",")

    def shortHelpString(self) -> str:
        return self.tr(HELP_TEXT)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        tr = self.tr
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Class raster")))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, tr("Class polygons"), qt.SOURCE_VECTOR_POLYGON))
        self.addParameter(QgsProcessingParameterNumber(
            self.MMU_HA, tr("Minimum mapping unit (hectares, 0: keep everything)"),
            qt.NUMBER_DOUBLE, 0.0, False, 0.0))
        self.addParameter(QgsProcessingParameterBand(self.BAND, tr("Band"), 1, self.INPUT, True))
        for name, label, options in (
                (self.MMU_MODE, tr("Polygons below the minimum mapping unit"), MMU_MODES),
                (self.CONNECTIVITY, tr("Pixel connectivity"), CONNECTIVITY),
                (self.AREA_METHOD, tr("Area method"), AREA_METHODS)):
            self.addParameter(QgsProcessingParameterEnum(name, label, [tr(o) for o in options],
                                                         False, 0))
        self.addOutput(QgsProcessingOutputNumber(self.POLYGON_COUNT, tr("Polygons written")))
        self.addOutput(QgsProcessingOutputNumber(self.DROPPED_COUNT,
                                                 tr("Polygons dropped below the MMU")))
        self.addOutput(QgsProcessingOutputNumber(self.SIEVE_PIXELS,
                                                 tr("Sieve threshold in pixels (0: no sieve)")))

    def _source(self, parameters: dict[str, Any], context: QgsProcessingContext,
                feedback: QgsProcessingFeedback) -> tuple[Any, gdal.Dataset, int]:
        """(layer, dataset, band number), checked."""
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.tr("No class raster given."))
        band_no = self.parameterAsInt(parameters, self.BAND, context) or 1
        src = gdal_step("Opening the class raster", gdal.Open, gdal_source(layer, what="class"))
        if not 1 <= band_no <= src.RasterCount:
            raise QgsProcessingException(self.tr("The raster has {count} band(s), not {band}.")
                                         .format(count=src.RasterCount, band=band_no))
        dtype = src.GetRasterBand(band_no).DataType
        if gdal.DataTypeIsComplex(dtype) or gdal.GetDataTypeName(dtype).startswith("Float"):
            feedback.pushWarning(self.tr(
                "The band is floating point: values are truncated to integers."))
        return layer, src, band_no

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        layer, src, band_no = self._source(parameters, context, feedback)
        mmu = self.parameterAsDouble(parameters, self.MMU_HA, context)
        merge = self.parameterAsEnum(parameters, self.MMU_MODE, context) == 0
        eight = self.parameterAsEnum(parameters, self.CONNECTIVITY, context) == 1
        ellipsoidal = self.parameterAsEnum(parameters, self.AREA_METHOD, context) == 0
        d, how = distance_area(layer.crs(), context, ellipsoidal)
        feedback.pushInfo(self.tr("Areas: {how}.").format(how=how))
        tag = os.path.join(QgsProcessingUtils.tempFolder(), f"upseg_{uuid.uuid4().hex}")
        tmp_files: list[str] = []
        sieved_ds = ogr_ds = ogr_layer = band = None
        try:
            band = src.GetRasterBand(band_no)
            sieve_px = self._sieve_pixels(src, d, mmu, feedback) if mmu > 0 and merge else 0
            if sieve_px:
                tmp_files.append(f"{tag}_sieved.tif")
                sieved_ds = self._sieve(src, band_no, tmp_files[-1], sieve_px, eight, feedback)
                band = sieved_ds.GetRasterBand(1)
            tmp_files.append(f"{tag}_polygons.gpkg")
            # The source's own mask (nodata, alpha) decides what gets no polygon, sieved or not.
            mask = src.GetRasterBand(band_no).GetMaskBand()
            ogr_ds, ogr_layer = self._polygonize(band, mask, src, tmp_files[-1], eight, feedback)
            sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, _FIELDS(),
                                                 qt.WKB_MULTIPOLYGON, layer.crs())
            if sink is None:
                raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
            names = layer_class_names(layer, band_no)
            written, dropped = self._copy(ogr_layer, sink, d, mmu, names, feedback)
        finally:
            # Drop every GDAL/OGR handle (closing the files) before removing them.
            del ogr_layer, ogr_ds, band, sieved_ds
            for path in tmp_files:
                _remove(path)
        feedback.setProgress(100)
        feedback.pushInfo(self.tr("{written} polygons written, {dropped} dropped below {mmu} ha.")
                          .format(written=written, dropped=dropped, mmu=mmu))
        return {self.OUTPUT: dest_id, self.POLYGON_COUNT: written, self.DROPPED_COUNT: dropped,
                self.SIEVE_PIXELS: sieve_px}

    def _sieve_pixels(self, src: gdal.Dataset, d: Any, mmu: float,
                      feedback: QgsProcessingFeedback) -> int:
        row_areas = row_pixel_areas_ha(src, d)
        pixel_ha = float(row_areas[len(row_areas) // 2])  # middle row: one threshold
        sieve_px = max(1, math.ceil(mmu / pixel_ha - 1e-9))
        feedback.pushInfo(self.tr(
            "Sieve: patches under {px} pixels ({mmu} ha at {m2:.2f} m² per pixel) merge into "
            "their largest neighbour.").format(px=sieve_px, mmu=mmu, m2=pixel_ha * 1e4))
        return sieve_px

    def _copy(self, ogr_layer: ogr.Layer, sink: Any, d: Any, mmu: float,
              names: dict[int, str], feedback: QgsProcessingFeedback) -> tuple[int, int]:
        """Polygons at or above the MMU into the sink, with class name and area; (kept, dropped)."""
        total = max(1, ogr_layer.GetFeatureCount())
        written = dropped = 0
        fields = _FIELDS()
        for i, feat in enumerate(ogr_layer):
            if feedback.isCanceled():
                raise QgsProcessingException(self.tr("Cancelled."))
            geom = QgsGeometry()
            geom.fromWkb(bytes(feat.GetGeometryRef().ExportToWkb()))
            area = area_ha(d, geom)
            if mmu > 0 and area < mmu:
                dropped += 1
                continue
            value = int(feat.GetField(0))
            geom.convertToMultiType()
            f = QgsFeature(fields)
            f.setGeometry(geom)
            f.setAttributes([value, names.get(value) or self.tr("class {value}").format(
                value=value), area])
            sink.addFeature(f, qt.FAST_INSERT)
            written += 1
            if i % 1000 == 0:
                feedback.setProgress(70 + 30 * i / total)
        return written, dropped

    @staticmethod
    def _sieve(src: gdal.Dataset, band_no: int, path: str, threshold: int, eight: bool,
               feedback: QgsProcessingFeedback) -> gdal.Dataset:
        band = src.GetRasterBand(band_no)
        dst = gdal_step("Creating the sieved raster", gdal.GetDriverByName("GTiff").Create,
                        path, src.RasterXSize, src.RasterYSize, 1, band.DataType,
                        ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
        dst.SetGeoTransform(src.GetGeoTransform())
        dst.SetProjection(src.GetProjection())
        out = dst.GetRasterBand(1)
        nodata = band.GetNoDataValue()
        if nodata is not None:
            out.SetNoDataValue(nodata)
        try:
            # The mask keeps nodata out of the sieve: it is neither merged nor merged into.
            gdal_check("GDAL's sieve", gdal.SieveFilter, band, band.GetMaskBand(), out,
                       threshold, 8 if eight else 4, callback=_GdalProgress(feedback, 0, 30))
        except QgsProcessingException:
            if feedback.isCanceled():
                raise QgsProcessingException(translate("Cancelled.")) from None
            raise
        out.FlushCache()
        return dst

    @staticmethod
    def _polygonize(band: gdal.Band, mask: gdal.Band, src: gdal.Dataset, path: str, eight: bool,
                    feedback: QgsProcessingFeedback) -> tuple[ogr.DataSource, ogr.Layer]:
        ds = gdal_step("Creating the temporary polygons", ogr.GetDriverByName("GPKG")
                       .CreateDataSource, path)
        srs = None
        if src.GetProjection():
            srs = osr.SpatialReference()
            gdal_check("Reading the raster's CRS", srs.ImportFromWkt, src.GetProjection())
        lyr = gdal_step("Creating the polygon layer", ds.CreateLayer, "polygons", srs,
                        ogr.wkbPolygon)
        gdal_check("Adding the value field", lyr.CreateField,
                   ogr.FieldDefn("value", ogr.OFTInteger))
        options = ["8CONNECTED=8"] if eight else []
        # One transaction: GeoPackage inserts are slow one by one.
        gdal_check("Starting a transaction", lyr.StartTransaction)
        try:
            gdal_check("GDAL's polygonize", gdal.Polygonize, band, mask, lyr, 0, options,
                       callback=_GdalProgress(feedback, 30, 70))
        except QgsProcessingException:
            if feedback.isCanceled():
                raise QgsProcessingException(translate("Cancelled.")) from None
            raise
        gdal_check("Saving the polygons", lyr.CommitTransaction)
        lyr.ResetReading()
        return ds, lyr


def _FIELDS() -> QgsFields:  # noqa: N802 - a constant, built on demand (needs QGIS)
    fields = QgsFields()
    fields.append(qt.field("class_value", "int"))
    fields.append(qt.field("class_name", "string"))
    fields.append(qt.field("area_ha", "double"))
    return fields


def _remove(path: str) -> None:
    for p in (path, path + "-wal", path + "-shm", path + ".aux.xml"):
        with contextlib.suppress(OSError):
            os.remove(p)


HELP_TEXT = """<p>Turns a class raster (e.g. the output of <i>Segment optical + SAR</i>) into \
polygons, one per connected patch of a class, with <code>class_value</code>, \
<code>class_name</code> (from the raster's category names or .qml style) and \
<code>area_ha</code>. Nodata pixels produce no polygon.</p>
<p><b>Minimum mapping unit</b> (hectares, 0 keeps everything): <i>merge</i> runs GDAL's sieve \
before polygonizing, so patches smaller than the MMU (converted to a pixel count with the pixel \
area at the middle of the raster) take the class of their largest neighbour and no gap is left; \
a patch that still falls below the MMU (e.g. surrounded only by nodata) is dropped. <i>Drop</i> \
removes polygons below the MMU and leaves holes. Polygons of exactly the MMU are kept.</p>
<p><b>Area method</b>: <i>ellipsoidal</i> (default) measures every polygon on the ellipsoid of \
the project (or of the layer's CRS, else WGS 84), right in any CRS including EPSG:4326; \
<i>planar</i> measures in the layer's projected CRS. Both are given in hectares.</p>
<p><b>Connectivity</b>: 4 joins pixels sharing an edge, 8 also those sharing a corner (used for \
both the sieve and the polygons).</p>"""
