"""The styled output without QGIS: .qml next to it, colour table and category names inside."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from tests.toy_model import build_toy_model, geographic_scene, toy_metadata
from upseg_qgis.core.contract.parsing import parse_metadata
from upseg_qgis.core.raster.styling import category_names, colour_table, paletted_qml
from upseg_qgis.core.run.pipeline import RuntimeOptions, segment


def _category_names(path: str) -> list[str] | None:
    # Category names of a GeoTIFF live in its .aux.xml (PAM); the test env switches PAM off.
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
    try:
        info = gdal.Info(path, format="json")
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
    return info["bands"][0].get("categories")


def test_qml_and_colour_table_text() -> None:
    meta = toy_metadata()
    meta["classes"] = [
        {"value": 1, "name": "water & <wet>", "colour": "#1F78B4"},
        {"value": 3, "name": "built-up", "colour": "#e31a1c"},
    ]
    classes = parse_metadata(meta).classes
    root = ET.fromstring(paletted_qml(classes).split("\n", 1)[1])
    r = root.find("pipe/rasterrenderer")
    assert r is not None and r.get("type") == "paletted" and r.get("band") == "1"
    entries = [(e.get("value"), e.get("color"), e.get("label")) for e in r.iter("paletteEntry")]
    assert entries == [("1", "#1f78b4", "water & <wet>"), ("3", "#e31a1c", "built-up")]
    assert colour_table(classes) == [
        (0, (0, 0, 0, 0)), (1, (31, 120, 180, 255)), (2, (0, 0, 0, 0)), (3, (227, 26, 28, 255))
    ]
    assert category_names(classes) == ["", "water & <wet>", "", "built-up"]


def test_output_is_styled(tmp_path: Path) -> None:
    opt, sar = geographic_scene(tmp_path, width=40, height=30)
    r = segment(str(opt), str(sar), str(tmp_path / "map.tif"),
                model=str(build_toy_model(tmp_path / "toy.onnx")),
                runtime=RuntimeOptions(device="cpu"))
    qml = tmp_path / "map.qml"
    assert r.qml == str(qml) and qml.is_file()
    labels = [e.get("label") for e in ET.parse(qml).getroot().iter("paletteEntry")]
    assert labels == ["not water", "water"]
    ds = gdal.Open(r.output)
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() == 255
    assert band.GetColorInterpretation() == gdal.GCI_PaletteIndex
    ct = band.GetColorTable()
    assert ct.GetColorEntry(0)[:3] == (0xD8, 0xCF, 0xB0) and ct.GetColorEntry(1)[:3] == (
        0x1F, 0x78, 0xB4)
    assert _category_names(r.output) == ["not water", "water"]
    md = ds.GetMetadata("IMAGE_STRUCTURE")
    assert md.get("COMPRESSION") == "DEFLATE"
    assert band.GetBlockSize() == [256, 256]
    assert set(np.unique(band.ReadAsArray())) <= {0, 1}


@pytest.mark.parametrize("pam", ["NO", "YES"])
def test_category_names_survive_pam_setting(tmp_path: Path, pam: str) -> None:
    opt, sar = geographic_scene(tmp_path, width=20, height=20)
    gdal.SetConfigOption("GDAL_PAM_ENABLED", pam)
    try:
        r = segment(str(opt), str(sar), str(tmp_path / "m.tif"),
                    model=str(build_toy_model(tmp_path / "toy.onnx")),
                    runtime=RuntimeOptions(device="cpu"))
    finally:
        gdal.SetConfigOption("GDAL_PAM_ENABLED", None)
    assert _category_names(r.output) == ["not water", "water"]
