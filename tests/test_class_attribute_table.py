"""Class names travel with the class raster: a GDAL raster attribute table (value, class name,
colour), read by QGIS from 3.30 on; and the model settings on Processing's options page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal

from tests.toy_model import geographic_scene
from upseg_qgis.core.raster.attribute_table import attribute_table, class_rows, read_attribute_table


def test_rat_rows_skip_unnamed_values_and_round_trip(tmp_path: Path) -> None:
    colours = [(0, (1, 2, 3, 255)), (1, (0, 0, 0, 0)), (2, (0, 0, 0, 0)), (3, (9, 8, 7, 255))]
    rows = class_rows(colours, ["land", "", "", "water"])
    assert rows == [(0, "land", (1, 2, 3, 255)), (3, "water", (9, 8, 7, 255))]
    path = tmp_path / "c.tif"
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "YES")
    try:
        ds = gdal.GetDriverByName("GTiff").Create(str(path), 4, 4, 1, gdal.GDT_Byte)
        ds.GetRasterBand(1).SetDefaultRAT(attribute_table(rows))
        ds = None
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
    assert read_attribute_table(path) == [
        {"Value": 0, "Class": "land", "Red": 1, "Green": 2, "Blue": 3, "Alpha": 255},
        {"Value": 3, "Class": "water", "Red": 9, "Green": 8, "Blue": 7, "Alpha": 255},
    ]
    assert read_attribute_table(tmp_path / "c.tif", 1)[0]["Class"] == "land"


def _classes_without_style(tmp_path: Path) -> Path:
    from upseg_qgis.core.run import pipeline

    optical, sar = geographic_scene(tmp_path, width=64, height=48)
    out = tmp_path / "classes.tif"
    pipeline.segment(str(optical), str(sar), str(out),
                     tiling=pipeline.TilingOptions(tile_size=64, overlap=8),
                     runtime=pipeline.RuntimeOptions(device="cpu"))
    out.with_suffix(".qml").unlink()  # what another tool sees: GeoTIFF + .aux.xml only
    return out


def test_segment_output_has_the_attribute_table(tmp_path: Path) -> None:
    out = _classes_without_style(tmp_path)
    assert [(r["Value"], r["Class"]) for r in read_attribute_table(out)] == [
        (0, "not water"), (1, "water")]
    assert np.isin(gdal.Open(str(out)).ReadAsArray(), [0, 1, 255]).all()


def _qgis_version() -> int:
    from qgis.core import Qgis

    return Qgis.QGIS_VERSION_INT


@pytest.mark.skipif(_qgis_version() < 33000,
                    reason="QGIS reads raster attribute tables from 3.30 on (make test-qgis)")
def test_qgis_reads_the_attribute_table(qgis_app: Any, tmp_path: Path) -> None:
    # Seen by hand in QGIS 3.40.6: one thematic table, and without a .qml the layer opens
    # paletted with exactly the model's classes (3.22 pads its colour table to 256 entries).
    from qgis.core import QgsRasterLayer

    gdal.SetConfigOption("GDAL_PAM_ENABLED", "YES")
    try:
        layer = QgsRasterLayer(str(_classes_without_style(tmp_path)), "classes")
        assert layer.isValid() and layer.attributeTableCount() == 1
        rat = layer.attributeTable(1)
        assert [[str(v) for v in row[:2]] for row in rat.data()] == [["0", "not water"],
                                                                     ["1", "water"]]
        assert [(int(c.value), c.label, c.color.name()) for c in layer.renderer().classes()] == [
            (0, "not water", "#d9d9d9"), (1, "water", "#0070ff")]
    finally:
        gdal.SetConfigOption("GDAL_PAM_ENABLED", None)


def test_model_settings_on_the_processing_options_page(
    upseg_plugin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processing.core.ProcessingConfig import ProcessingConfig
    from qgis.core import QgsSettings

    from upseg_qgis.plugin import model_settings as ms

    assert {s.name for s in ProcessingConfig.getSettings()["UPSeg"]} == {
        ms.MODELS_FOLDER, ms.OFFLINE_FOLDERS, ms.CATALOGUES, ms.DOWNLOAD_ON_FIRST_USE}
    for var in ("UPSEG_MODELS_DIR", "UPSEG_MODEL_FOLDERS", "UPSEG_CATALOGUES", "UPSEG_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    settings = QgsSettings()
    keys = {name: f"Processing/Configuration/{name}" for name in (
        ms.MODELS_FOLDER, ms.OFFLINE_FOLDERS, ms.CATALOGUES, ms.DOWNLOAD_ON_FIRST_USE)}
    try:
        assert ms.store_config().models_dir == ms.default_models_dir()
        ProcessingConfig.setSettingValue(ms.MODELS_FOLDER, str(tmp_path))
        ProcessingConfig.setSettingValue(ms.OFFLINE_FOLDERS, f"{tmp_path};{tmp_path.parent}")
        settings.setValue(keys[ms.CATALOGUES], "/share/team.json; https://example.org/c.json")
        ProcessingConfig.setSettingValue(ms.DOWNLOAD_ON_FIRST_USE, False)
        config = ms.store_config()
        assert config.models_dir == tmp_path
        assert config.offline_dirs == (tmp_path, tmp_path.parent)
        assert config.catalogues == ("/share/team.json", "https://example.org/c.json")
        assert config.download_on_first_use is False
        monkeypatch.setenv("UPSEG_CATALOGUES", "/env/cat.json")
        assert ms.store_config().catalogues[0] == "/env/cat.json"
    finally:
        for name, key in keys.items():
            settings.remove(key)
            ProcessingConfig.settings[name].value = ProcessingConfig.settings[name].default
