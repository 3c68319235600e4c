"""Class names of a class raster: its category names, else the labels of a sidecar .qml."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.parsers import expat

from osgeo import gdal

from .gdal_errors import RasterError, gdal_call


def gdal_category_names(path: str, band: int = 1) -> dict[int, str]:
    """{value: name} from the band's GDAL category names (value = index), non-empty only."""
    try:
        ds = gdal_call("Opening the class raster", gdal.Open, path)
    except RasterError:  # not a GDAL raster: simply no names
        return {}
    if not 1 <= band <= ds.RasterCount:
        return {}
    names = ds.GetRasterBand(band).GetCategoryNames() or []
    return {i: n.strip() for i, n in enumerate(names) if n and n.strip()}


def qml_class_names(path: str) -> dict[int, str]:
    """{value: label} from the paletted renderer of a `.qml` saved next to the raster."""
    qml = Path(path).with_suffix(".qml")
    if not qml.is_file():
        return {}
    names: dict[int, str] = {}

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag != "paletteEntry":
            return
        try:
            value = int(float(attrs.get("value", "")))
        except ValueError:
            return
        label = (attrs.get("label") or "").strip()
        if label:
            names[value] = label

    try:
        _safe_xml_parse(qml.read_bytes(), start)
    except (expat.ExpatError, ValueError):
        return {}
    return names


def _safe_xml_parse(data: bytes, start: Any) -> None:
    """Stream XML through expat with inline DTDs and entities refused, so a hostile file can
    neither expand entities nor reach external resources. A bare `<!DOCTYPE qgis ...>` line
    (QGIS writes one into every .qml, and so does styling.paletted_qml) is allowed: external
    DTDs are never fetched."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_args: object) -> None:
        raise ValueError("DTDs and entities are not allowed in a .qml")

    def doctype(_name: str, _system: str | None, _public: str | None, internal: int) -> None:
        if internal:
            refuse()

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.Parse(data, True)


def raster_class_names(path: str, band: int = 1) -> dict[int, str]:
    """Category names where present, else the labels of a sidecar `.qml`."""
    return gdal_category_names(path, band) or qml_class_names(path)
