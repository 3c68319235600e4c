"""Region mosaics of scenes in several CRSs: the SAR is re-projected without mixing values.

SYNTHETIC scenes: a dB checkerboard of -5 and -25 dB, one scene in UTM zone 31N and one in
EPSG:4326 beside it. Interpolated in dB their edges would read -15 dB, a backscatter neither
side has; the single-scene code later resamples in linear power, so the mosaic must only
re-project (nearest pixel).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, osr

from upseg_qgis.core.region.inputs import build_mosaic, describe_scenes

LEVELS = (-25.0, -5.0)


def _checkerboard(n: int) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n]
    return np.where((yy // 3 + xx // 3) % 2 == 0, *LEVELS).astype(np.float32)


def _scene(path: Path, epsg: int, geotransform: tuple[float, ...], n: int = 60) -> str:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), n, n, 1, gdal.GDT_Float32)
    ds.SetGeoTransform(geotransform)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.WriteArray(_checkerboard(n))
    band.SetNoDataValue(-9999.0)
    band.SetDescription("VV")
    ds = None
    return str(path)


def test_sar_scenes_in_two_crs_are_reprojected_without_interpolating_db(tmp_path: Path) -> None:
    utm = _scene(tmp_path / "utm.tif", 32631, (500000.0, 10.0, 0.0, 4500000.0, 0.0, -10.0))
    # Beside it in longitude/latitude, at about the same 10 m (3 degrees east, 40.6 degrees N).
    geo = _scene(tmp_path / "geo.tif", 4326, (3.0071, 1.2e-4, 0.0, 40.6504, 0.0, -0.9e-4))
    path = build_mosaic(describe_scenes([utm, geo], "SAR"), "SAR", tmp_path / "work")
    ds = gdal.Open(path)  # kept: a band outlived by its dataset reads freed memory
    values = ds.GetRasterBand(1).ReadAsArray()
    values = values[np.isfinite(values) & (values != -9999.0)]
    assert values.size > 1.5 * 60 * 60  # both scenes are in the mosaic, not only the first
    np.testing.assert_array_equal(np.unique(values), np.array(LEVELS, dtype=np.float32))
