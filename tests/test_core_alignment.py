"""SAR on another grid: resampled on the fly onto the optical grid; partial and no overlap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from tests.toy_model import (
    build_toy_model,
    geographic_scene,
    prepared_reference,
    utm_sar,
    write_raster,
)
from upseg_qgis.core.raster.gdal_errors import RasterError
from upseg_qgis.core.run.pipeline import InputOptions, RuntimeOptions, TilingOptions, segment


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("align")
    opt, sar = geographic_scene(d, width=120, height=90)
    return {"dir": d, "optical": opt, "sar": sar, "sar_utm": utm_sar(d, opt),
            "model": build_toy_model(d / "toy.onnx")}


def _read(path: str | Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray()


def _geo(path: str | Path) -> tuple[tuple[float, ...], str, int, int]:
    ds = gdal.Open(str(path))
    return ds.GetGeoTransform(), ds.GetProjection(), ds.RasterXSize, ds.RasterYSize


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.partial.tif*"))


def test_sar_in_utm_matches_prealigned(scene: dict[str, Path], tmp_path: Path) -> None:
    kw = {"model": str(scene["model"]), "runtime": RuntimeOptions(device="cpu"),
          "tiling": TilingOptions(tile_size=64, overlap=8)}
    ref = segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "ref.tif"),
                  confidence=str(tmp_path / "ref_conf.tif"), **kw)
    utm = segment(str(scene["optical"]), str(scene["sar_utm"]), str(tmp_path / "utm.tif"),
                  confidence=str(tmp_path / "utm_conf.tif"), **kw)
    assert not ref.sar_resampled and utm.sar_resampled
    a, b = _read(ref.output), _read(utm.output)
    assert (a == 255).sum() == 0 and (b == 255).sum() == 0  # the UTM layer covers everything
    # Measured (resampling in linear power): 0.53 % of the pixels differ, all on class
    # boundaries; confidence median difference 0.0026. Limits: about 4 times that.
    assert (a != b).mean() < 0.02, "only pixels on class boundaries may differ"
    ca, cb = _read(ref.confidence), _read(utm.confidence)
    assert np.median(np.abs(ca - cb)) < 0.01
    # Output grid = the optical grid, whatever the SAR's.
    assert _geo(utm.output) == _geo(scene["optical"])
    assert 0.1 < (a == 1).mean() < 0.9


def test_prealigned_equals_numpy_reference(scene: dict[str, Path], tmp_path: Path) -> None:
    r = segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "o.tif"),
                model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))
    cls, _, _ = prepared_reference(scene["optical"], scene["sar"])
    np.testing.assert_array_equal(_read(r.output), cls)


def test_extent_gives_window_of_optical_grid(scene: dict[str, Path], tmp_path: Path) -> None:
    gt = _geo(scene["optical"])[0]
    # 30..80 columns, 20..60 rows, given in map units with sub-pixel slack.
    ext = (gt[0] + 30.2 * gt[1], gt[3] + 59.7 * gt[5], gt[0] + 79.6 * gt[1], gt[3] + 20.4 * gt[5])
    r = segment(str(scene["optical"]), str(scene["sar_utm"]), str(tmp_path / "e.tif"),
                model=str(scene["model"]), inputs=InputOptions(extent=ext),
                runtime=RuntimeOptions(device="cpu"))
    out_gt, proj, w, h = _geo(r.output)
    assert (w, h) == (50, 40)
    np.testing.assert_allclose(out_gt, (gt[0] + 30 * gt[1], gt[1], 0, gt[3] + 20 * gt[5], 0,
                                        gt[5]), rtol=0, atol=1e-12)
    full = segment(str(scene["optical"]), str(scene["sar_utm"]), str(tmp_path / "f.tif"),
                   model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))
    # GDAL's approximate warp transformer (1/8 pixel) may flip a boundary pixel or two.
    # Measured: identical (0 pixels differ); the limit leaves room for a flipped boundary pixel.
    assert (_read(r.output) != _read(full.output)[20:60, 30:80]).mean() < 0.005
    # A SAR layer on the optical grid is read directly, window for window: exactly equal.
    aligned = segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "a.tif"),
                      model=str(scene["model"]), inputs=InputOptions(extent=ext),
                      runtime=RuntimeOptions(device="cpu"))
    assert not aligned.sar_resampled
    cls, _, _ = prepared_reference(scene["optical"], scene["sar"])
    np.testing.assert_array_equal(_read(aligned.output), cls[20:60, 30:80])


def test_partial_overlap_and_optical_nodata_give_nodata(
    scene: dict[str, Path], tmp_path: Path
) -> None:
    sar = _read(scene["sar"])
    gt, _, w, h = _geo(scene["sar"])
    # SAR covers only columns 0..59 (same grid otherwise).
    half = write_raster(tmp_path / "sar_half.tif", sar[:, :60].astype(np.float32)
                        if sar.ndim == 3 else sar[np.newaxis, :, :60], gt)
    opt = _read(scene["optical"])
    opt[:, 10:20, 5:15] = 0  # declared nodata below
    opt_nd = write_raster(tmp_path / "opt_nd.tif", np.where(opt == 0, 0, np.maximum(opt, 1)),
                          gt, nodata=0, descriptions=["red", "green", "blue"])
    r = segment(str(opt_nd), str(half), str(tmp_path / "p.tif"), model=str(scene["model"]),
                tiling=TilingOptions(tile_size=32, overlap=4),
                runtime=RuntimeOptions(device="cpu"))
    out = _read(r.output)
    assert r.sar_resampled
    assert np.all(out[:, 60:] == 255), "no SAR: nodata"
    assert np.all(out[10:20, 5:15] == 255), "optical nodata: nodata"
    inside = out[:, :59].copy()
    inside[10:20, 5:15] = 0
    assert np.all(inside != 255)
    assert r.valid_fraction == pytest.approx((60 * h - 100) / (w * h), abs=0.02)


def test_no_overlap_is_a_clear_error_and_leaves_nothing(
    scene: dict[str, Path], tmp_path: Path
) -> None:
    far = write_raster(tmp_path / "far.tif", np.full((1, 50, 50), -10, np.float32),
                       (20.0, 1e-4, 0.0, 50.0, 0.0, -1e-4))
    out = tmp_path / "none.tif"
    with pytest.raises(RasterError, match="does not overlap"):
        segment(str(scene["optical"]), str(far), str(out), model=str(scene["model"]),
                confidence=str(tmp_path / "none_conf.tif"),
                runtime=RuntimeOptions(device="cpu"))
    assert not out.exists() and not (tmp_path / "none_conf.tif").exists()
    assert not _leftovers(tmp_path)
    # Also in another CRS (UTM far away).
    far_utm = write_raster(tmp_path / "far_utm.tif", np.full((1, 40, 40), -10, np.float32),
                           (100000.0, 10.0, 0.0, 1000000.0, 0.0, -10.0), epsg=32631)
    with pytest.raises(RasterError, match="does not overlap"):
        segment(str(scene["optical"]), str(far_utm), str(out), model=str(scene["model"]),
                runtime=RuntimeOptions(device="cpu"))
    assert not out.exists() and not _leftovers(tmp_path)


def test_sar_without_crs_is_refused(scene: dict[str, Path], tmp_path: Path) -> None:
    bare = write_raster(tmp_path / "bare.tif", np.zeros((1, 30, 30), np.float32) - 10,
                        (500000.0, 10.0, 0.0, 4400000.0, 0.0, -10.0), epsg=None)
    with pytest.raises(RasterError, match="no CRS"):
        segment(str(scene["optical"]), str(bare), str(tmp_path / "x.tif"),
                model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))
    assert not (tmp_path / "x.tif").exists()


def test_ungeoreferenced_pair_of_same_size_works(scene: dict[str, Path], tmp_path: Path) -> None:
    """OMBRIA-like PNG pairs: no georeferencing, one pixel grid."""
    opt = write_raster(tmp_path / "o.tif", _read(scene["optical"]), None, epsg=None)
    sar = write_raster(tmp_path / "s.tif", _read(scene["sar"])[np.newaxis], None, epsg=None)
    r = segment(str(opt), str(sar), str(tmp_path / "u.tif"), model=str(scene["model"]),
                runtime=RuntimeOptions(device="cpu"))
    cls, _, _ = prepared_reference(scene["optical"], scene["sar"])
    np.testing.assert_array_equal(_read(r.output), cls)
