"""Every algorithm reads a layer as QGIS resolves it: a CRS set on the layer in QGIS (not in the
file) and open options in the layer's URI reach GDAL in upseg:segment, upseg:evaluate,
upseg:class_areas and upseg:polygonize (synthetic rasters; pytest-qgis, offscreen)."""

from __future__ import annotations

import json
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


# --- evaluate, class_areas, polygonize: the same resolver ---------------------------------------

def _classes(path: Path, epsg: int) -> Path:
    """A synthetic class raster (0/1/2 stripes, 10 m pixels) georeferenced in `epsg`."""
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 40, 30, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4500000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).WriteArray((np.arange(40)[None, :] // 14).repeat(30, 0).astype(np.uint8))
    ds = None
    return path


@pytest.fixture(params=["crs override", "crs override + open option"])
def overridden(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A class raster whose file says EPSG:32633 while QGIS is told EPSG:3857 (the same numbers
    then lie near 4.5 E, 37.5 N), and the same pixels in a file that says EPSG:3857."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer

    uri = str(_classes(tmp_path / "classes_32633.tif", 32633))
    if request.param.endswith("open option"):
        uri += "|option:NUM_THREADS=1"
    layer = QgsRasterLayer(uri, "classes (CRS set in QGIS)", "gdal")
    assert layer.isValid()
    layer.setCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    QgsProject.instance().addMapLayer(layer)
    yield layer, str(_classes(tmp_path / "classes_3857.tif", 3857))
    QgsProject.instance().removeMapLayers([layer.id()])


def test_evaluate_aligns_with_the_crs_qgis_gives_the_layer(overridden: Any) -> None:
    import processing

    layer, truth = overridden
    res = processing.run("upseg:evaluate", {"PREDICTION": truth, "REFERENCE": layer.id(),
                                            "OUTPUT": "TEMPORARY_OUTPUT"})
    # Read with the file's CRS, the reference would lie 10 degrees away from the prediction.
    assert res["EVALUATED_PIXELS"] == 40 * 30 and res["OA"] == pytest.approx(1.0)
    assert "same grid" in json.loads(res["METRICS_JSON"])["alignment"]


def test_class_areas_measure_in_the_crs_qgis_gives_the_layer(overridden: Any) -> None:
    import processing

    layer, truth = overridden
    got = processing.run("upseg:class_areas", {"INPUT": layer.id(),
                                               "OUTPUT": "TEMPORARY_OUTPUT"})
    want = processing.run("upseg:class_areas", {"INPUT": truth, "OUTPUT": "TEMPORARY_OUTPUT"})
    assert got["VALID_PIXELS"] == 40 * 30
    # Web Mercator at 37.5 N: a 10 m pixel is about 63 m² on the ground (about 100 in UTM).
    assert got["TOTAL_AREA_HA"] == pytest.approx(want["TOTAL_AREA_HA"], rel=1e-9)
    assert got["TOTAL_AREA_HA"] == pytest.approx(1200 * 100 * 0.793**2 / 1e4, rel=0.01)


def test_polygonize_writes_the_crs_qgis_gives_the_layer(overridden: Any, tmp_path: Path) -> None:
    import processing
    from qgis.core import QgsVectorLayer

    layer, truth = overridden
    out = processing.run("upseg:polygonize", {"INPUT": layer.id(),
                                              "OUTPUT": str(tmp_path / "got.gpkg")})
    want = processing.run("upseg:polygonize", {"INPUT": truth,
                                               "OUTPUT": str(tmp_path / "want.gpkg")})
    polygons = QgsVectorLayer(out["OUTPUT"], "got", "ogr")
    assert polygons.crs().authid() == "EPSG:3857" and out["POLYGON_COUNT"] == 3
    areas = sorted(f["area_ha"] for f in polygons.getFeatures())
    expected = sorted(f["area_ha"] for f in QgsVectorLayer(want["OUTPUT"], "w").getFeatures())
    assert areas == pytest.approx(expected, rel=1e-9)


def test_a_layer_gdal_cannot_read_is_refused_with_its_role() -> None:
    from qgis.core import QgsProcessingException

    from upseg_qgis.plugin.layer_source import gdal_source

    class WmsLayer:  # only what the check asks of a layer
        def providerType(self) -> str:  # noqa: N802 - QGIS's naming
            return "wms"

        def name(self) -> str:
            return "basemap"

    with pytest.raises(QgsProcessingException,
                       match="The reference layer 'basemap' comes from the 'wms' data provider"):
        gdal_source(WmsLayer(), what="reference")  # type: ignore[arg-type]
