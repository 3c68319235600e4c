"""`qgis_process run upseg:segment -- MODEL=<catalogue id>`: the model is downloaded on first use
from a catalogue served on 127.0.0.1 (the embedded model's file under another id), verified, and
used; the output is the embedded model's, with its classes in a raster attribute table. Then
`upseg:model_info` in qgis_process describes the embedded model as text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal

from tests.loopback_server import LoopbackServer, Served
from tests.toy_model import geographic_scene
from upseg_qgis.core.contract.onnx_props import read_model_metadata
from upseg_qgis.core.engine.session import DEFAULT_MODEL
from upseg_qgis.core.models.store import SHIPPED_CATALOGUE
from upseg_qgis.core.raster.attribute_table import read_attribute_table

Runner = Callable[..., Any]


def _json_run(qgis_process: Runner, *args: str) -> dict[str, Any]:
    proc = qgis_process("--json", "run", *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def test_segment_with_a_catalogue_id_downloads_on_first_use(
    qgis_process: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    optical, sar = geographic_scene(tmp_path, width=120, height=90)
    data = json.loads(SHIPPED_CATALOGUE.read_text(encoding="utf-8"))
    entry = data["models"][0]
    entry.pop("embedded")
    entry.update(id="loopback-water", file_name="loopback-water.onnx",
                 urls=["models/loopback-water.onnx"])
    with LoopbackServer(lifetime=240) as server:
        server.files["/catalogue.json"] = Served(json.dumps(data).encode())
        server.files["/models/loopback-water.onnx"] = Served(DEFAULT_MODEL.read_bytes())
        monkeypatch.setenv("UPSEG_CATALOGUES", server.url("/catalogue.json"))
        monkeypatch.setenv("UPSEG_MODELS_DIR", str(tmp_path / "models"))
        out = tmp_path / "water.tif"
        doc = _json_run(qgis_process, "upseg:segment", "--", f"OPTICAL={optical}",
                        f"SAR={sar}", "MODEL=loopback-water", f"OUTPUT={out}", "DEVICE=cpu")
    log = "\n".join(doc["log"]["info"])
    version = entry["version"]
    downloaded = tmp_path / "models" / "loopback-water" / version / "loopback-water.onnx"
    assert f"Downloading loopback-water@{version}" in log and str(downloaded) in log
    assert downloaded.read_bytes() == DEFAULT_MODEL.read_bytes()
    assert [r.path for r in server.requests] == ["/catalogue.json",
                                                 "/models/loopback-water.onnx"]
    assert server.requests[1].range == f"bytes=0-{DEFAULT_MODEL.stat().st_size - 1}"

    # The same run with the embedded model gives the same classes.
    from upseg_qgis.core.run import pipeline

    ref = tmp_path / "ref.tif"
    pipeline.segment(str(optical), str(sar), str(ref),
                     runtime=pipeline.RuntimeOptions(device="cpu"))
    got = gdal.Open(str(out)).ReadAsArray()
    assert got.shape == (90, 120)
    assert np.array_equal(got, gdal.Open(str(ref)).ReadAsArray())
    assert len(np.unique(got)) > 1  # a real map, not a constant

    # Class names travel with the raster: a thematic attribute table (value, name, colour).
    assert read_attribute_table(out) == [
        {"Value": 0, "Class": "not water", "Red": 217, "Green": 217, "Blue": 217, "Alpha": 255},
        {"Value": 1, "Class": "water", "Red": 0, "Green": 112, "Blue": 255, "Alpha": 255},
    ]


def test_model_info_in_qgis_process_describes_the_embedded_model(
    qgis_process: Runner, tmp_path: Path
) -> None:
    html = tmp_path / "info.html"
    doc = _json_run(qgis_process, "upseg:model_info", "--", f"OUTPUT_HTML={html}")
    text = "\n".join(doc["log"]["info"])
    test = read_model_metadata(DEFAULT_MODEL).training["test_metrics"]
    # Inputs with band names and units, classes with colours, tiling, licence, test metrics.
    for fragment in ("Optical input", "1  red    S2 B4 red", "Units: uint8_rendering",
                     "Also accepts: reflectance_x10000", "SAR input", "Also accepts: sar_db",
                     "about 10 m per pixel", "tiles of 256 px, 32 px overlap",
                     "0      #d9d9d9  not water", "1      #0070ff  water",
                     "No data: 255", f"mIoU {100 * test['miou']:.1f} %",
                     f"water      {100 * test['iou'][1]:.1f} %",
                     "Licence: GPL-2.0-or-later", "doi:10.7527/S1000-6893.2025.32910"):
        assert fragment in text, fragment
    assert doc["results"]["MODEL_NAME"].startswith("UPSeg-tiny water / not water")
    page = html.read_text(encoding="utf-8")
    assert "<h3>Classes (output values)</h3>" in page and "background-color:#d9d9d9" in page
