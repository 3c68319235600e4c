"""`upseg:polygonize` and `upseg:class_areas`: names, hectares (planar and ellipsoidal), the
minimum mapping unit (merge by sieve, or drop), nodata, and both algorithms in qgis_process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from tests.test_evaluate import write_tif

gdal.UseExceptions()

# WGS 84: exact area of a lat/lon cell on the ellipsoid (authalic-latitude formula).
A, F = 6378137.0, 1 / 298.257223563
E2 = F * (2 - F)
E = math.sqrt(E2)


def _q(lat: float) -> float:
    s = math.sin(math.radians(lat))
    return s / (1 - E2 * s * s) + math.log((1 + E * s) / (1 - E * s)) / (2 * E)


def latlon_cell_m2(lat1: float, lat2: float, dlon: float) -> float:
    return A * A * (1 - E2) * math.radians(dlon) / 2 * abs(_q(lat2) - _q(lat1))


def class_scene() -> np.ndarray:
    """40x40 px of 10 m (UTM): land (0), a water (1) square of 20x20 with a 2-px island of land
    inside, a 3-px speck of water on land, and a nodata (255) strip along the bottom."""
    a = np.zeros((40, 40), np.uint8)
    a[5:25, 5:25] = 1
    a[10, 10:12] = 0  # island: 2 px = 0.02 ha
    a[30, 30:33] = 1  # speck: 3 px = 0.03 ha
    a[38:, :] = 255
    return a


@pytest.fixture()
def scene(tmp_path: Path) -> str:
    return write_tif(tmp_path / "classes.tif", class_scene(), dtype=gdal.GDT_Byte, nodata=255,
                     categories=["land", "water"])


def _features(path: str) -> list[dict]:
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(path, "t", "ogr")
    assert layer.isValid(), path
    return [{**dict(zip(layer.fields().names(), f.attributes(), strict=True)),
             "_geom": f.geometry()} for f in layer.getFeatures()]


def test_class_areas_planar_and_ellipsoidal(upseg_provider, scene: str, tmp_path: Path) -> None:
    import processing

    planar = processing.run("upseg:class_areas", {"INPUT": scene, "AREA_METHOD": 1,
                                                  "OUTPUT": str(tmp_path / "planar.gpkg")})
    rows = {r["class_name"]: r for r in _features(planar["OUTPUT"])}
    water_px = 20 * 20 - 2 + 3
    assert rows["water"]["pixel_count"] == water_px and rows["water"]["class_value"] == 1
    assert rows["land"]["pixel_count"] == 38 * 40 - water_px
    assert rows["water"]["area_ha"] == pytest.approx(water_px * 0.01)  # 100 m² per pixel
    assert sum(r["percent"] for r in rows.values()) == pytest.approx(100)
    assert planar["NODATA_PIXELS"] == 80 and planar["VALID_PIXELS"] == 38 * 40
    assert planar["TOTAL_AREA_HA"] == pytest.approx(15.2)

    ellipsoidal = processing.run("upseg:class_areas", {"INPUT": scene,
                                                       "OUTPUT": "TEMPORARY_OUTPUT"})
    # UTM near the central meridian: ellipsoidal = planar / k0² (k0 = 0.9996), within 0.1 %.
    assert ellipsoidal["TOTAL_AREA_HA"] == pytest.approx(15.2 / 0.9996**2, rel=1e-3)


def test_class_areas_on_lat_lon_grid_are_true_ellipsoidal_areas(
        upseg_provider, shared_data: Path) -> None:
    import processing

    label = str(shared_data / "sen1floods11_sample" / "Spain_7370579_LabelHand.tif")
    ds = gdal.Open(label)
    gt = ds.GetGeoTransform()
    expected = latlon_cell_m2(gt[3], gt[3] + 512 * gt[5], 512 * gt[1]) / 1e4
    res = processing.run("upseg:class_areas", {"INPUT": label, "OUTPUT": "TEMPORARY_OUTPUT"})
    assert res["TOTAL_AREA_HA"] == pytest.approx(expected, rel=1e-5)
    counts = {f["class_value"]: f["pixel_count"] for f in res["OUTPUT"].getFeatures()}
    values = gdal.Open(label).ReadAsArray()
    assert counts == {int(v): int((values == v).sum()) for v in np.unique(values)}
    with pytest.raises(Exception, match="Planar areas need a projected CRS"):
        processing.run("upseg:class_areas", {"INPUT": label, "AREA_METHOD": 1,
                                             "OUTPUT": "TEMPORARY_OUTPUT"})


def test_polygonize_names_areas_and_nodata(upseg_provider, scene: str, tmp_path: Path) -> None:
    import processing

    res = processing.run("upseg:polygonize", {"INPUT": scene, "AREA_METHOD": 1,
                                              "OUTPUT": str(tmp_path / "all.gpkg")})
    feats = _features(res["OUTPUT"])
    # land (outer, with the water square as a hole), water square (with the island as a hole),
    # the island, the speck: nodata gives no polygon.
    assert res["POLYGON_COUNT"] == 4 and res["DROPPED_COUNT"] == 0 and res["SIEVE_PIXELS"] == 0
    by_area = sorted((round(f["area_ha"], 6), f["class_name"], f["class_value"]) for f in feats)
    assert by_area == [(0.02, "land", 0), (0.03, "water", 1), (3.98, "water", 1),
                       (11.17, "land", 0)]
    assert all(f["_geom"].isGeosValid() for f in feats)


def test_mmu_merge_sieves_small_patches_into_their_neighbour(
        upseg_provider, scene: str, tmp_path: Path) -> None:
    import processing

    res = processing.run("upseg:polygonize", {"INPUT": scene, "AREA_METHOD": 1, "MMU_HA": 0.025,
                                              "OUTPUT": str(tmp_path / "merged.gpkg")})
    feats = _features(res["OUTPUT"])
    assert res["SIEVE_PIXELS"] == 3  # 0.025 ha / 0.01 ha -> patches under 3 px merge
    # The 2-px island became water; the 3-px speck (0.03 ha >= MMU) stays.
    areas = sorted(round(f["area_ha"], 6) for f in feats)
    assert areas == [0.03, 4.0, 11.17]
    assert sum(areas) == pytest.approx(15.2)  # no gap: merged, not dropped


def test_mmu_drop_removes_small_polygons_and_leaves_holes(
        upseg_provider, scene: str, tmp_path: Path) -> None:
    import processing

    res = processing.run("upseg:polygonize", {"INPUT": scene, "AREA_METHOD": 1, "MMU_HA": 0.05,
                                              "MMU_MODE": 1, "OUTPUT": "TEMPORARY_OUTPUT"})
    assert res["DROPPED_COUNT"] == 2 and res["POLYGON_COUNT"] == 2
    areas = sorted(round(f["area_ha"], 6) for f in res["OUTPUT"].getFeatures())
    assert areas == [3.98, 11.17]  # the island's hole stays a hole


def test_polygon_areas_add_up_to_class_areas_on_lat_lon(upseg_provider,
                                                        shared_data: Path) -> None:
    import processing

    label = str(shared_data / "sen1floods11_sample" / "Spain_7370579_LabelHand.tif")
    polys = processing.run("upseg:polygonize", {"INPUT": label, "OUTPUT": "TEMPORARY_OUTPUT"})
    areas = processing.run("upseg:class_areas", {"INPUT": label, "OUTPUT": "TEMPORARY_OUTPUT"})
    by_class: dict[int, float] = {}
    for f in polys["OUTPUT"].getFeatures():
        by_class[f["class_value"]] = by_class.get(f["class_value"], 0.0) + f["area_ha"]
    expected = {f["class_value"]: f["area_ha"] for f in areas["OUTPUT"].getFeatures()}
    assert by_class.keys() == expected.keys()
    for v, ha in expected.items():
        assert by_class[v] == pytest.approx(ha, rel=1e-4), v


def test_vectors_and_areas_headless_in_qgis_process(qgis_process, scene: str,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "polys.gpkg"
    res = qgis_process("run", "upseg:polygonize", "--json", "--", f"INPUT={scene}",
                       "MMU_HA=0.025", "AREA_METHOD=1", f"OUTPUT={out}")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert json.loads(res.stdout[res.stdout.index("{"):])["results"]["POLYGON_COUNT"] == 3
    assert out.is_file()
    csv = tmp_path / "areas.csv"
    res = qgis_process("run", "upseg:class_areas", "--", f"INPUT={scene}", "AREA_METHOD=1",
                       f"OUTPUT={csv}")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = csv.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "class_value,class_name,pixel_count,area_ha,percent"
    assert any(",water," in line for line in lines[1:])


def test_class_areas_streams_row_strips(scene: str) -> None:
    from collections import defaultdict

    from upseg_qgis.algorithms.class_areas import accumulate_class_areas, read_strips

    ds = gdal.Open(scene)  # keep the dataset alive while its band is used
    band = ds.GetRasterBand(1)
    row_areas = np.linspace(1.0, 2.0, band.YSize)  # any per-row pixel area
    counts: dict[int, int] = defaultdict(int)
    areas: dict[int, float] = defaultdict(float)
    strips = 0
    for y, data, valid in read_strips(band, block_pixels=7 * 40):
        assert data.shape[0] <= 7
        accumulate_class_areas(data, valid, row_areas[y:y + data.shape[0]], counts, areas)
        strips += 1
    assert strips == math.ceil(40 / 7)
    whole = class_scene()
    for v in (0, 1):
        assert counts[v] == int((whole == v).sum())
        assert areas[v] == pytest.approx(float(((whole == v) * row_areas[:, None]).sum()))
    assert 255 not in counts
