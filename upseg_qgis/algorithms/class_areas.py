"""`upseg:class_areas`: per-class pixel count, area (ha) and share of a class raster.

Streamed in row strips (memory does not grow with the scene). Areas are ellipsoidal by default:
every row's pixel area is measured on the ellipsoid, so a lat/lon grid (EPSG:4326) gets true
areas whose pixel size shrinks towards the poles; planar areas in the layer's CRS are optional.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsDistanceArea,
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
    QgsProcessingParameterRasterLayer,
    QgsRectangle,
    QgsUnitTypes,
)

from ..core.raster.reading import nodata_hits
from ..plugin import qt_compat as qt
from ..plugin.layer_source import gdal_source
from .base import UPSegAlgorithm, gdal_step, translate
from .evaluate import layer_class_names

AREA_METHODS = ("Ellipsoidal (hectares)", "Planar, in the layer's CRS (hectares)")
BLOCK_PIXELS = 1 << 22
DEFAULT_ELLIPSOID = "EPSG:7030"  # WGS 84, when neither the project nor the CRS names one


def distance_area(crs: QgsCoordinateReferenceSystem, context: QgsProcessingContext,
                  ellipsoidal: bool) -> tuple[QgsDistanceArea, str]:
    """A QgsDistanceArea for `crs` and a sentence saying how areas are measured."""
    d = QgsDistanceArea()
    d.setSourceCrs(crs, context.transformContext())
    if not ellipsoidal:
        if not crs.isValid() or crs.isGeographic():
            raise QgsProcessingException(translate(
                "Planar areas need a projected CRS (metres or feet); this layer's CRS is "
                "'{crs}'. Use the ellipsoidal area method.").format(
                    crs=crs.authid() or translate("unknown")))
        d.setEllipsoid("NONE")
        return d, translate("planar areas in {crs} ({units})").format(
            crs=crs.authid(), units=QgsUnitTypes.toString(crs.mapUnits()))
    if not crs.isValid():
        raise QgsProcessingException(translate(
            "The layer has no CRS, so ellipsoidal areas cannot be measured. Assign its CRS "
            "(Layer Properties > Source) or use planar areas with a projected CRS."))
    candidates = (context.ellipsoid(), crs.ellipsoidAcronym(), DEFAULT_ELLIPSOID)
    for ellipsoid in candidates:
        if ellipsoid and ellipsoid.upper() != "NONE" and d.setEllipsoid(ellipsoid):
            break
    return d, translate("ellipsoidal areas on {ellipsoid} ({crs})").format(
        ellipsoid=d.ellipsoid(), crs=crs.authid())


def area_ha(d: QgsDistanceArea, geometry: QgsGeometry) -> float:
    return d.convertAreaMeasurement(d.measureArea(geometry), qt.AREA_HECTARES)


def row_pixel_areas_ha(ds: gdal.Dataset, d: QgsDistanceArea) -> np.ndarray:
    """Area in ha of one pixel in every row, measured at the middle column (exact for lat/lon
    grids; on projected grids the scale change across one scene is usually < 0.1 %)."""
    gt = ds.GetGeoTransform()
    if gt[2] or gt[4]:
        raise QgsProcessingException(translate("Rotated rasters are not supported."))
    x0 = gt[0] + (ds.RasterXSize // 2) * gt[1]
    out = np.empty(ds.RasterYSize)
    for r in range(ds.RasterYSize):
        y0 = gt[3] + r * gt[5]
        out[r] = area_ha(d, QgsGeometry.fromRect(QgsRectangle(x0, y0, x0 + gt[1], y0 + gt[5])))
    return out


def read_strips(band: gdal.Band, block_pixels: int = BLOCK_PIXELS):
    """(row offset, data, valid) in row strips of whole blocks; valid honours nodata/masks."""
    w, h = band.XSize, band.YSize
    _, block_h = band.GetBlockSize()
    rows = max(1, block_pixels // max(w, 1))
    if block_h and rows > block_h:
        rows -= rows % block_h
    nodata = band.GetNoDataValue()
    flags = band.GetMaskFlags()
    for y in range(0, h, rows):
        n = min(rows, h - y)
        data = gdal_step("Reading the class raster", band.ReadAsArray, 0, y, w, n)
        valid = np.ones(data.shape, bool)
        if np.issubdtype(data.dtype, np.floating):
            valid &= np.isfinite(data)
        hits = nodata_hits(data, nodata)  # compared in the band's own data type
        if hits is not None:
            valid &= ~hits
        if not flags & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA):
            mask = band.GetMaskBand()
            valid &= gdal_step("Reading the class raster's mask", mask.ReadAsArray, 0, y, w, n) > 0
        yield y, data, valid


def accumulate_class_areas(values: np.ndarray, valid: np.ndarray, row_areas: np.ndarray,
                           counts: dict[int, int], areas: dict[int, float]) -> None:
    """Add one strip's pixel counts and areas per class value to `counts` and `areas`."""
    vals = values[valid]
    if vals.size == 0:
        return
    if np.issubdtype(vals.dtype, np.floating):
        vals = np.rint(vals)
    vals = vals.astype(np.int64)
    weights = np.broadcast_to(row_areas[:, None], values.shape)[valid]
    lo, hi = int(vals.min()), int(vals.max())
    if hi - lo < 1 << 20:  # small value range (class rasters): bincount, no sort
        c = np.bincount(vals - lo, minlength=hi - lo + 1)
        a = np.bincount(vals - lo, weights=weights, minlength=hi - lo + 1)
        for i in np.flatnonzero(c):
            counts[lo + int(i)] += int(c[i])
            areas[lo + int(i)] += float(a[i])
    else:
        uniq, inv = np.unique(vals, return_inverse=True)
        c = np.bincount(inv)
        a = np.bincount(inv, weights=weights)
        for i, v in enumerate(uniq):
            counts[int(v)] += int(c[i])
            areas[int(v)] += float(a[i])


class ClassAreasAlgorithm(UPSegAlgorithm):
    GROUP = "Analysis"
    HELP_ANCHOR = "upseg-class-areas"
    INPUT = "INPUT"
    BAND = "BAND"
    AREA_METHOD = "AREA_METHOD"
    OUTPUT = "OUTPUT"
    TOTAL_AREA_HA = "TOTAL_AREA_HA"
    VALID_PIXELS = "VALID_PIXELS"
    NODATA_PIXELS = "NODATA_PIXELS"

    def name(self) -> str:
        return "class_areas"

    def displayName(self) -> str:
        return self.tr("Class areas (pixels, hectares, percent)")

    def tags(self) -> list[str]:
        return self.tr("area,statistics,land cover,hectares,percentage,report").split(",")

    def shortHelpString(self) -> str:
        return self.tr(HELP_TEXT)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        tr = self.tr
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Class raster")))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, tr("Class areas"), qt.SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterBand(self.BAND, tr("Band"), 1, self.INPUT, True))
        self.addParameter(QgsProcessingParameterEnum(self.AREA_METHOD, tr("Area method"),
                                                     [tr(m) for m in AREA_METHODS], False, 0))
        self.addOutput(QgsProcessingOutputNumber(self.TOTAL_AREA_HA, tr("Total valid area (ha)")))
        self.addOutput(QgsProcessingOutputNumber(self.VALID_PIXELS, tr("Valid pixels")))
        self.addOutput(QgsProcessingOutputNumber(self.NODATA_PIXELS, tr("Nodata pixels")))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.tr("No class raster given."))
        band_no = self.parameterAsInt(parameters, self.BAND, context) or 1
        ellipsoidal = self.parameterAsEnum(parameters, self.AREA_METHOD, context) == 0
        ds = gdal_step("Opening the class raster", gdal.Open, gdal_source(layer, what="class"))
        if not 1 <= band_no <= ds.RasterCount:
            raise QgsProcessingException(self.tr("The raster has {count} band(s), not {band}.")
                                         .format(count=ds.RasterCount, band=band_no))
        d, how = distance_area(layer.crs(), context, ellipsoidal)
        feedback.pushInfo(self.tr("Areas: {how}.").format(how=how))
        row_areas = row_pixel_areas_ha(ds, d)
        band = ds.GetRasterBand(band_no)
        counts: dict[int, int] = defaultdict(int)
        areas: dict[int, float] = defaultdict(float)
        total_px = ds.RasterXSize * ds.RasterYSize
        for y, data, valid in read_strips(band):
            if feedback.isCanceled():
                raise QgsProcessingException(self.tr("Cancelled."))
            accumulate_class_areas(data, valid, row_areas[y:y + data.shape[0]], counts, areas)
            feedback.setProgress(100.0 * (y + data.shape[0]) / ds.RasterYSize)
        names = layer_class_names(layer, band_no)
        valid_px = sum(counts.values())
        total_ha = sum(areas.values())

        fields = QgsFields()
        fields.append(qt.field("class_value", "int"))
        fields.append(qt.field("class_name", "string"))
        fields.append(qt.field("pixel_count", "int64"))
        fields.append(qt.field("area_ha", "double"))
        fields.append(qt.field("percent", "double"))
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                             qt.WKB_NO_GEOMETRY,
                                             QgsCoordinateReferenceSystem())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for v in sorted(counts):
            pct = 100.0 * areas[v] / total_ha if total_ha else 0.0
            name = names.get(v) or self.tr("class {value}").format(value=v)
            f = QgsFeature(fields)
            f.setAttributes([v, name, counts[v], areas[v], pct])
            sink.addFeature(f, qt.FAST_INSERT)
            feedback.pushInfo(self.tr("{name} ({value}): {px} px, {ha:.4f} ha, {pct:.2f} %")
                              .format(name=name, value=v, px=counts[v], ha=areas[v], pct=pct))
        feedback.pushInfo(self.tr("Valid: {px} px, {ha:.4f} ha; nodata: {nodata} px.").format(
            px=valid_px, ha=total_ha, nodata=total_px - valid_px))
        return {self.OUTPUT: dest_id, self.TOTAL_AREA_HA: total_ha,
                self.VALID_PIXELS: valid_px, self.NODATA_PIXELS: total_px - valid_px}


HELP_TEXT = """<p>Counts the pixels of every class of a class raster (e.g. the output of \
<i>Segment optical + SAR</i>) and measures their area in hectares and their share of the valid \
(non-nodata) area, reading the raster block by block.</p>
<p><b>Area method</b>: <i>ellipsoidal</i> (default) measures each row's pixel area on the \
ellipsoid of the project (or of the layer's CRS, else WGS 84), so lat/lon rasters (EPSG:4326) \
get true areas; on projected rasters the pixel area is measured at the middle column (the scale \
change across a scene is usually below 0.1 %). <i>Planar</i> uses the pixel size in the layer's \
projected CRS.</p>
<p>Output: a table (no geometry) with <code>class_value</code>, <code>class_name</code> (from \
the raster's category names or .qml style), <code>pixel_count</code>, <code>area_ha</code> and \
<code>percent</code> (of the valid area); TOTAL_AREA_HA, VALID_PIXELS and NODATA_PIXELS as \
numbers for the modeler.</p>"""
