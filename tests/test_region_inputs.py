"""What a region job reads from its mosaics: alpha bands, and the SAR units of every scene.

SYNTHETIC scenes and the toy model throughout. Mosaics of scenes without a nodata value carry an
alpha band (gdalbuildvrt -addalpha; the region job builds such mosaics itself): it is not a data
band for band choice, and its zero pixels are missing, not classified.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from tests.region_scenes import mosaic, read, region, seg
from tests.toy_model import build_toy_model, geographic_scene, write_raster
from upseg_qgis.core.raster.gdal_errors import RasterError
from upseg_qgis.core.raster.grid import Window
from upseg_qgis.core.raster.reading import band_labels, open_raster, read_window
from upseg_qgis.core.raster.sampling import sample_values
from upseg_qgis.core.region.inputs import describe_scenes

GAP = (60, 70)  # columns between the two optical scenes


def _pieces(src: Path, folder: Path, prefix: str, cols: list[tuple[int, int]]) -> list[str]:
    """Column ranges of `src` as scenes without band names and without a nodata value."""
    ds = gdal.Open(str(src))
    data, gt = ds.ReadAsArray(), ds.GetGeoTransform()
    data = data[np.newaxis] if data.ndim == 2 else data
    out = []
    for i, (a, b) in enumerate(cols):
        geo = (gt[0] + a * gt[1], gt[1], 0.0, gt[3], 0.0, gt[5])
        out.append(str(write_raster(folder / f"{prefix}_{i}.tif", data[:, :, a:b], geo)))
    return out


def test_alpha_band_is_not_a_data_band_and_its_zeros_are_missing(tmp_path: Path) -> None:
    """SYNTHETIC: 5 float bands + alpha, where GDAL itself ignores the alpha band as a mask."""
    data = np.full((5, 8, 10), 0.25, np.float32)
    scenes = [write_raster(tmp_path / f"s{i}.tif", data, (3.0 + i * 12e-4, 1e-4, 0, 40, 0, -1e-4))
              for i in range(2)]
    vrt = mosaic([str(s) for s in scenes], tmp_path / "m.vrt")  # 22 columns, 12-19 a gap
    ds = open_raster(vrt, "optical")
    assert ds.RasterCount == 6 and len(band_labels(ds)) == 5
    values = read_window(ds, [1, 5], Window(0, 0, 22, 8), "optical")
    assert np.isnan(values[:, :, 10:12]).all() and not np.isnan(values[:, :, :10]).any()
    assert np.isnan(sample_values(ds, [1], "optical")).mean() == pytest.approx(2 / 22)
    # gdal.BuildVRT would silently leave out a scene whose band count differs: refused.
    with pytest.raises(RasterError, match="has an alpha band but .*s0.tif has none"):
        describe_scenes([vrt, str(scenes[0])], "optical")


def test_region_mosaics_with_alpha_bands_choose_bands_by_file_order(tmp_path: Path) -> None:
    """SYNTHETIC: optical and SAR scenes without band names or nodata: the mosaics get an alpha
    band, which must neither defeat the file-order band choice (as upseg:segment makes it) nor
    let the gap between scenes be classified."""
    opt, sar = geographic_scene(tmp_path, width=120, height=90)
    optical = _pieces(opt, tmp_path, "opt", [(0, GAP[0]), (GAP[1], 120)])
    sars = _pieces(sar, tmp_path, "sar", [(0, 50), (50, 120)])
    model = str(build_toy_model(tmp_path / "toy.onnx"))
    ref = seg(mosaic(optical, tmp_path / "o.vrt"), mosaic(sars, tmp_path / "s.vrt"),
              tmp_path / "ref.tif", model=model)
    r = region(optical, sars, tmp_path / "region.tif", model=model, window_size=64)
    out = read(r.output)
    np.testing.assert_array_equal(out, read(ref.output))
    assert (out[:, GAP[0]:GAP[1]] == 255).all()  # the gap is nodata, not classified
    assert set(np.unique(out[:, :GAP[0]])) == {0, 1}
    assert any("file order" in w for w in r.warnings)


def _db_and_linear(folder: Path) -> tuple[str, list[str]]:
    """SYNTHETIC: one optical scene, and its SAR as two scenes: the left half in dB, the right
    half in linear power (10 ** (dB / 10))."""
    opt, sar = geographic_scene(folder, width=120, height=90)
    ds = gdal.Open(str(sar))
    db, gt = ds.ReadAsArray(), ds.GetGeoTransform()
    right = (gt[0] + 60 * gt[1], gt[1], 0.0, gt[3], 0.0, gt[5])
    a = write_raster(folder / "sar_db.tif", db[:, :60], gt, descriptions=["VV"])
    b = write_raster(folder / "sar_linear.tif", (10 ** (db[:, 60:] / 10)).astype(np.float32),
                     right, descriptions=["VV"])
    return str(opt), [str(a), str(b)]


def test_sar_scenes_in_db_and_linear_are_refused_naming_them(tmp_path: Path) -> None:
    """SYNTHETIC: a dB scene beside a linear one, as two scenes or as one VRT mosaic: one
    pooled sample would choose one unit for both in silence."""
    from upseg_qgis.core.inputs.units import UnitsError
    from upseg_qgis.core.run.options import InputOptions

    opt, sars = _db_and_linear(tmp_path)
    model = str(build_toy_model(tmp_path / "toy.onnx"))
    vrt = mosaic(sars, tmp_path / "sar.vrt")
    for sar in (sars, [vrt]):
        with pytest.raises(UnitsError) as err:
            region([opt], sar, tmp_path / "region.tif", model=model, window_size=64)
        msg = str(err.value)
        assert f"sar_db: {sars[0]}" in msg and f"sar_linear: {sars[1]}" in msg
        assert "Convert them to one unit" in msg and "set SAR_UNITS" in msg
        assert not (tmp_path / "region.tif").exists()
    # Units the user set are kept; the warning names the scenes in other units.
    r = region([opt], sars, tmp_path / "region.tif", model=model, window_size=64,
               inputs=InputOptions(sar_units="sar_db"))
    assert any(f"sar_linear: {sars[1]}" in w and "SAR_UNITS is sar_db" in w for w in r.warnings)
