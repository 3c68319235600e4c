"""upseg:segment and the example .model3 chain headless, through `qgis_process run`.

Each run is a subprocess (scripts/qgis-process: the checkout's plugin, the venv's packages and
the project-local test profile); outputs are then opened in this process's QGIS.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal

from tests.conftest import ROOT
from tests.toy_model import build_toy_model, geographic_scene, prepared_reference, utm_sar

Runner = Callable[..., subprocess.CompletedProcess[str]]
CHAIN = ROOT / "upseg_qgis" / "examples" / "segment_polygonize_areas.model3"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("headless")
    opt, sar = geographic_scene(d, width=120, height=90)
    return {"optical": opt, "sar": sar, "sar_utm": utm_sar(d, opt),
            "model": build_toy_model(d / "toy.onnx")}


def _run_json(qgis_process: Runner, alg: str, **params: Any) -> tuple[dict[str, Any], str]:
    args = ["--json", "run", alg, "--"]
    for k, v in params.items():
        for item in v if isinstance(v, list) else [v]:
            args.append(f"{k}={item}")
    proc = qgis_process(*args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    start = proc.stdout.index("{")
    return json.loads(proc.stdout[start:]), proc.stdout


def _palette(path: str | Path) -> list[tuple[int, str]]:
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(path), "out")
    assert layer.isValid()
    assert layer.renderer().type() == "paletted"
    return [(int(c.value), c.label) for c in layer.renderer().classes()]


def test_headless_real_chip_styled_and_on_the_optical_grid(
    qgis_process: Runner, shared_data: Path, scene: dict[str, Path], tmp_path: Path,
    qgis_app: Any,
) -> None:
    folder = shared_data / "sen1floods11_sample"
    s2 = folder / "Spain_7370579_S2Hand.tif"
    out, conf = tmp_path / "water.tif", tmp_path / "conf.tif"
    doc, _ = _run_json(qgis_process, "upseg:segment", OPTICAL=s2,
                       SAR=folder / "Spain_7370579_S1Hand.tif", MODEL=scene["model"],
                       OUTPUT=out, OUTPUT_CONFIDENCE=conf, TILE_SIZE=128, OVERLAP=16)
    res = doc["results"]
    assert res["OUTPUT"] == str(out) and res["OUTPUT_CONFIDENCE"] == str(conf)
    assert res["PROVIDER"] == "CPUExecutionProvider" and int(res["TILE_COUNT"]) == 25
    log = "\n".join(doc["log"]["info"])
    assert "4 (B4), 3 (B3), 2 (B2)" in log and "reflectance_x10000" in log and "Mpx/s" in log
    src, dst = gdal.Open(str(s2)), gdal.Open(str(out))
    assert dst.GetGeoTransform() == src.GetGeoTransform()
    assert (dst.RasterXSize, dst.RasterYSize) == (512, 512)
    assert out.with_suffix(".qml").is_file()
    # Opened in QGIS after a headless run: paletted, with the model's class names.
    assert _palette(out) == [(0, "not water"), (1, "water")]
    # Without the .qml, the colour table inside the GeoTIFF still gives a paletted layer.
    out.with_suffix(".qml").unlink()
    palette = _palette(out)
    assert palette[0][0] == 0 and palette[1][0] == 1
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
    try:
        info = gdal.Info(str(out), format="json")
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
    assert info["bands"][0]["categories"] == ["not water", "water"]
    assert "colorTable" in info["bands"][0]


def test_headless_utm_sar_with_user_bands(
    qgis_process: Runner, scene: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "utm.tif"
    doc, _ = _run_json(qgis_process, "upseg:segment", OPTICAL=scene["optical"],
                       SAR=scene["sar_utm"], MODEL=scene["model"], DEVICE="cpu",
                       OPTICAL_BANDS=[1, 2, 3], SAR_UNITS="sar_db", OUTPUT=out)
    assert doc["results"]["PROVIDER"] == "CPUExecutionProvider"
    assert "(chosen by user)" in "\n".join(doc["log"]["info"])
    ref, _, _ = prepared_reference(scene["optical"], scene["sar"])
    ds = gdal.Open(str(out))
    assert (ds.ReadAsArray() != ref).mean() < 0.02  # measured 0.53 % (boundary pixels)
    assert ds.GetGeoTransform() == gdal.Open(str(scene["optical"])).GetGeoTransform()


@pytest.mark.parametrize("case", ["no_overlap", "no_metadata"])
def test_headless_errors_are_clear_and_leave_nothing(
    qgis_process: Runner, scene: dict[str, Path], tmp_path: Path, case: str
) -> None:
    from tests.toy_model import write_raster

    params = {"OPTICAL": scene["optical"], "SAR": scene["sar"], "MODEL": scene["model"],
              "DEVICE": "cpu", "OUTPUT": tmp_path / "out.tif"}
    if case == "no_overlap":
        params["SAR"] = write_raster(tmp_path / "far.tif", np.full((1, 9, 9), -9, np.float32),
                                     (60.0, 1e-4, 0, 10.0, 0, -1e-4))
        expected = "does not overlap"
    else:
        params["MODEL"] = build_toy_model(tmp_path / "plain.onnx", metadata=False)
        expected = "no 'upseg' metadata"
    proc = qgis_process("run", "upseg:segment", "--", *[f"{k}={v}" for k, v in params.items()])
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("out*"))


def test_example_chain_runs_headless(
    qgis_process: Runner, scene: dict[str, Path], tmp_path: Path
) -> None:
    assert CHAIN.is_file()
    areas = tmp_path / "areas.csv"
    doc, _ = _run_json(qgis_process, str(CHAIN), optical=scene["optical"], sar=scene["sar_utm"],
                       model=scene["model"], mmu_ha=0,
                       **{"upseg:classes": tmp_path / "classes.tif",
                          "polygonize:polygons": tmp_path / "poly.gpkg",
                          "areas:class_areas": areas})
    assert Path(doc["results"]["upseg:classes"]).is_file()
    with areas.open(newline="") as f:
        rows = {int(r["class_value"]): r for r in csv.DictReader(f)}
    assert {k: r["class_name"] for k, r in rows.items()} == {0: "not water", 1: "water"}
    classes = gdal.Open(str(tmp_path / "classes.tif")).ReadAsArray()
    for k, r in rows.items():
        assert int(r["pixel_count"]) == (classes == k).sum()
    # 120 x 90 pixels of 1e-4 degrees at 40 N are about 94.8 m2 each on the ellipsoid.
    total_ha = sum(float(r["area_ha"]) for r in rows.values())
    assert total_ha == pytest.approx(classes.size * 94.8 / 1e4, rel=0.01)
    assert sum(float(r["percent"]) for r in rows.values()) == pytest.approx(100.0, abs=0.01)

    # With no minimum mapping unit the polygons cover every pixel of their class.
    from qgis.core import QgsVectorLayer

    poly = QgsVectorLayer(doc["results"]["polygonize:polygons"], "p", "ogr")
    assert poly.isValid()
    poly_ha: dict[str, float] = {}
    for feat in poly.getFeatures():
        poly_ha[feat["class_name"]] = poly_ha.get(feat["class_name"], 0.0) + feat["area_ha"]
    for r in rows.values():
        assert poly_ha[r["class_name"]] == pytest.approx(float(r["area_ha"]), rel=0.01)
