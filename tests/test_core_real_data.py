"""The real Sen1Floods11 chip (raw 13-band S2 Int16, 2-band S1 dB) through the core.

With the toy model: this checks input handling on real files (band choice, unit detection,
nodata, georeferencing), not accuracy; the embedded model's IoU is checked where it ships.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal

from tests.toy_model import build_toy_model, toy_logits, toy_metadata
from upseg_qgis.core.contract.parsing import parse_metadata
from upseg_qgis.core.run.pipeline import Reporter, RuntimeOptions, segment


def test_real_chip_with_toy_model(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "sen1floods11_sample"
    s2, s1 = folder / "Spain_7370579_S2Hand.tif", folder / "Spain_7370579_S1Hand.tif"
    messages: list[str] = []
    r = segment(str(s2), str(s1), str(tmp_path / "water.tif"),
                model=str(build_toy_model(tmp_path / "toy.onnx")),
                confidence=str(tmp_path / "conf.tif"),
                runtime=RuntimeOptions(device="cpu"),
                report=Reporter(info=messages.append))
    assert r.optical_bands == (4, 3, 2) and r.sar_bands == (1,)
    assert (r.optical_units, r.sar_units) == ("reflectance_x10000", "sar_db")
    assert not r.sar_resampled and r.tile_count > 1
    src, out = gdal.Open(str(s2)), gdal.Open(r.output)
    assert out.GetGeoTransform() == src.GetGeoTransform()
    assert (out.RasterXSize, out.RasterYSize) == (src.RasterXSize, src.RasterYSize)
    assert out.GetProjection() == src.GetProjection()
    # Same as the toy model applied in numpy to the whole chip.
    meta = parse_metadata(toy_metadata())
    o = src.ReadAsArray(band_list=[4, 3, 2]).astype(np.float32)
    o[o == 0] = np.nan  # the S2 file's nodata
    sar_ds = gdal.Open(str(s1))
    s = sar_ds.GetRasterBand(1).ReadAsArray()[np.newaxis].astype(np.float32)
    on, sn = meta.optical.prepare(o, "reflectance_x10000"), meta.sar.prepare(s, "sar_db")
    valid = np.isfinite(on).all(0) & np.isfinite(sn).all(0)
    expected = toy_logits(np.nan_to_num(on), np.nan_to_num(sn)).argmax(0).astype(np.uint8)
    expected[~valid] = 255
    np.testing.assert_array_equal(out.ReadAsArray(), expected)
    assert any("Mpx/s" in m for m in messages) and any("CPUExecutionProvider" in m
                                                       for m in messages)
    assert set(r.timings) == {"load", "read", "warp", "normalise", "inference", "blend", "write"}
