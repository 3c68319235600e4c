"""`upseg:segment` reads a layer as QGIS resolves it: a CRS set on the layer in QGIS (not in the
file) and open options in the layer's URI reach GDAL (pytest-qgis, offscreen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal, osr

from tests.toy_model import build_toy_model

pytestmark = pytest.mark.usefixtures("upseg_provider")


def _tif(path: Path, bands: int, epsg: int | None) -> Path:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 40, 30, bands, gdal.GDT_Float32)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4500000.0, 0.0, -10.0))
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    rng = np.random.default_rng(bands)
    for b in range(bands):
        ds.GetRasterBand(b + 1).WriteArray(rng.uniform(0.0, 0.3, (30, 40)).astype(np.float32))
    ds = None
    return path


def _epsg(path: str) -> str | None:
    wkt = gdal.Open(path).GetProjection()
    if not wkt:
        return None
    srs = osr.SpatialReference(wkt=wkt)
    srs.AutoIdentifyEPSG()
    return srs.GetAuthorityCode(None)


def test_plain_layer_is_read_from_its_file(tmp_path: Path) -> None:
    from qgis.core import QgsRasterLayer

    from upseg_qgis.plugin.layer_source import gdal_source

    layer = QgsRasterLayer(str(_tif(tmp_path / "a.tif", 3, 32633)), "a")
    assert gdal_source(layer, tmp_path / "vrt") == layer.source()


def test_crs_override_and_open_options_reach_gdal(tmp_path: Path) -> None:
    from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer

    from upseg_qgis.plugin.layer_source import gdal_source

    layer = QgsRasterLayer(str(_tif(tmp_path / "a.tif", 3, 32633)), "a")
    layer.setCrs(QgsCoordinateReferenceSystem("EPSG:32634"))  # the user's fix in QGIS
    assert _epsg(gdal_source(layer, tmp_path / "vrt")) == "32634"
    uri = f"{tmp_path / 'a.tif'}|option:NUM_THREADS=1"
    with_options = QgsRasterLayer(uri, "b", "gdal")
    assert with_options.isValid()
    resolved = gdal_source(with_options, tmp_path / "vrt")
    assert resolved.endswith(".vrt") and _epsg(resolved) == "32633"


def test_segment_uses_the_crs_qgis_gives_the_layer(tmp_path: Path) -> None:
    import processing
    from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer

    optical = QgsRasterLayer(str(_tif(tmp_path / "opt.tif", 3, None)), "optical (no CRS)")
    sar = QgsRasterLayer(str(_tif(tmp_path / "sar.tif", 1, None)), "sar (no CRS)")
    for layer in (optical, sar):
        layer.setCrs(QgsCoordinateReferenceSystem("EPSG:32633"))
        QgsProject.instance().addMapLayer(layer)
    out = tmp_path / "classes.tif"
    try:
        params: dict[str, Any] = {"OPTICAL": optical.id(), "SAR": sar.id(), "DEVICE": "cpu",
                                  "MODEL": str(build_toy_model(tmp_path / "toy.onnx")),
                                  "OUTPUT": str(out)}
        processing.run("upseg:segment", params)
    finally:
        QgsProject.instance().removeMapLayers([optical.id(), sar.id()])
    assert _epsg(str(out)) == "32633"
