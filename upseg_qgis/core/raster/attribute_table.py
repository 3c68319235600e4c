"""The class raster's attribute table (RAT): one row per class with its value, name and colour.

A GDAL raster attribute table is what GIS software reads as "the classes of this raster": QGIS
from 3.30 on (Layer Properties > Raster Attribute Tables, and it can style the layer from it),
ArcGIS, ERDAS, R's terra and gdalraster, GDAL's own tools. For a GeoTIFF GDAL keeps it in the
`.aux.xml` beside the file, next to the colour table and category names that older software
reads. Columns: Value (GFU_MinMax), Class (GFU_Name), Red, Green, Blue, Alpha (0-255).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from osgeo import gdal

Rgba = tuple[int, int, int, int]

COLUMNS = (
    ("Value", gdal.GFT_Integer, gdal.GFU_MinMax),
    ("Class", gdal.GFT_String, gdal.GFU_Name),
    ("Red", gdal.GFT_Integer, gdal.GFU_Red),
    ("Green", gdal.GFT_Integer, gdal.GFU_Green),
    ("Blue", gdal.GFT_Integer, gdal.GFU_Blue),
    ("Alpha", gdal.GFT_Integer, gdal.GFU_Alpha),
)


def class_rows(colours: Sequence[tuple[int, Rgba]], names: Sequence[str]) -> list[
        tuple[int, str, Rgba]]:
    """(value, name, RGBA) of every named value of a colour table + category names."""
    by_value = dict(colours)
    return [(v, name, tuple(by_value.get(v, (0, 0, 0, 0))))  # type: ignore[misc]
            for v, name in enumerate(names) if name]


def attribute_table(rows: Sequence[tuple[int, str, Rgba]]) -> gdal.RasterAttributeTable:
    """A thematic RAT with one row per class."""
    rat = gdal.RasterAttributeTable()
    for name, ftype, usage in COLUMNS:
        rat.CreateColumn(name, ftype, usage)
    if hasattr(rat, "SetTableType"):  # GDAL >= 2.4
        rat.SetTableType(gdal.GRTT_THEMATIC)
    rat.SetRowCount(len(rows))
    for i, (value, name, rgba) in enumerate(rows):
        rat.SetValueAsInt(i, 0, int(value))
        rat.SetValueAsString(i, 1, name)
        for j, c in enumerate(rgba):
            rat.SetValueAsInt(i, 2 + j, int(c))
    return rat


def read_attribute_table(path: str | Path, band: int = 1) -> list[dict[str, object]]:
    """The RAT of a raster band as rows of {column name: value} (empty when it has none)."""
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")  # the RAT lives in the .aux.xml
    try:
        ds = gdal.Open(str(path))
        rat = ds.GetRasterBand(band).GetDefaultRAT() if ds is not None else None
        if rat is None:
            return []
        cols = [(rat.GetNameOfCol(c), rat.GetTypeOfCol(c)) for c in range(rat.GetColumnCount())]
        return [{name: _cell(rat, r, c, ftype) for c, (name, ftype) in enumerate(cols)}
                for r in range(rat.GetRowCount())]
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)


def _cell(rat: gdal.RasterAttributeTable, row: int, col: int, ftype: int) -> object:
    if ftype == gdal.GFT_String:
        return rat.GetValueAsString(row, col)
    if ftype == gdal.GFT_Integer:
        return rat.GetValueAsInt(row, col)
    return rat.GetValueAsDouble(row, col)
