"""SYNTHETIC optical + SAR scenes of any size, written block by block (bounded memory).

`model_export.data.synthetic.write_synthetic_scene` builds its whole ground truth in memory with
a Voronoi loop, fine for test chips but not for a 330 Mpx scene. Here the ground truth is a
closed-form field of map coordinates (easting, northing in the optical CRS), evaluated one strip
of 256 rows at a time, so:

- generation needs memory for one strip, whatever the scene size;
- the SAR layer, on its own grid in another CRS and resolution (EPSG:4326 by default), samples
  the same ground as the optical layer (each SAR pixel centre is mapped to the optical CRS).

Optical: uint16 reflectance x 10000, bands blue, green, red, NIR (like Sentinel-2 digital numbers;
the default model converts them to its 8-bit rendering). SAR: float32 backscatter in dB, nodata
-9999. Both tiled 256 x 256, DEFLATE. Files are named `synthetic_*` and carry `SYNTHETIC=YES`
metadata: NOT real data.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

GENERATOR_VERSION = 1
STRIP = 256  # rows per write = the GeoTIFF block height
SAR_NODATA = -9999.0

# Reflectance of blue, green, red, NIR for 4 land classes and water.
_SPECTRA = np.array(
    [
        [0.05, 0.08, 0.06, 0.35],  # crops
        [0.04, 0.06, 0.05, 0.28],  # forest
        [0.12, 0.13, 0.15, 0.22],  # built-up
        [0.10, 0.12, 0.16, 0.25],  # bare soil
        [0.07, 0.06, 0.04, 0.015],  # water
    ],
    dtype=np.float32,
)
_SAR_DB = np.array([-9.0, -7.5, -3.0, -12.0, -20.0], dtype=np.float32)  # same classes
WATER = 4


@dataclass(frozen=True)
class SceneSpec:
    """Where and how big; the optical grid is `width` x `height` pixels of `gsd` metres."""

    width: int
    height: int
    gsd: float = 5.0  # WHU-OPT-SAR: 5 m
    optical_epsg: int = 32650  # UTM 50N (Wuhan)
    origin: tuple[float, float] = (240000.0, 3380000.0)  # upper-left corner, metres
    sar_epsg: int = 4326
    sar_pixel_deg: float = 9e-5  # about 10 m x 8.7 m near 30 N: another CRS and resolution
    seed: int = 0
    version: int = GENERATOR_VERSION


def _srs(epsg: int) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def ground_classes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Class index (0..3 land, 4 water) at easting x, northing y (metres): a closed-form field."""
    x = x.astype(np.float64) / 1000.0
    y = y.astype(np.float64) / 1000.0
    land = np.sin(x / 0.41 + 0.8 * np.sin(y / 0.9)) * np.cos(y / 0.37 + 0.5 * np.sin(x / 1.3))
    cls = np.clip(((land + 1.0) * 2.0).astype(np.int8), 0, 3).astype(np.uint8)
    # A meandering river every ~6 km and scattered lakes.
    river = np.abs(np.sin(y / 0.95 + 1.7 * np.sin(x / 2.3))) < 0.12
    lakes = np.sin(x / 0.73) * np.sin(y / 0.61) + 0.4 * np.cos((x + y) / 1.9) > 1.1
    cls[river | lakes] = WATER
    return cls


def _create(path: Path, width: int, height: int, bands: int, dtype: int, predictor: int,
            gt: tuple[float, ...], srs: osr.SpatialReference, descriptions: list[str],
            units: str, nodata: float | None = None) -> gdal.Dataset:
    ds = gdal.GetDriverByName("GTiff").Create(
        str(path), width, height, bands, dtype,
        options=["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE",
                 "ZLEVEL=1", f"PREDICTOR={predictor}", "BIGTIFF=IF_SAFER"],
    )
    if ds is None:
        raise RuntimeError(f"cannot create {path}")
    ds.SetGeoTransform(gt)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetMetadata({"SYNTHETIC": "YES", "UNITS": units,
                    "DESCRIPTION": "synthetic benchmark scene (bench.synthetic_scene), not real"})
    for i, d in enumerate(descriptions):
        band = ds.GetRasterBand(i + 1)
        band.SetDescription(d)
        if nodata is not None:
            band.SetNoDataValue(nodata)
    return ds


def _strip_rng(seed: int, which: int, row: int) -> np.random.Generator:
    return np.random.default_rng([seed, which, row])


def _write_optical(path: Path, spec: SceneSpec) -> None:
    x0, y0, g = spec.origin[0], spec.origin[1], spec.gsd
    ds = _create(path, spec.width, spec.height, 4, gdal.GDT_UInt16, 2,
                 (x0, g, 0.0, y0, 0.0, -g), _srs(spec.optical_epsg),
                 ["blue", "green", "red", "nir"], "reflectance x 10000")
    xs = x0 + (np.arange(spec.width) + 0.5) * g
    for row in range(0, spec.height, STRIP):
        h = min(STRIP, spec.height - row)
        ys = y0 - (row + np.arange(h) + 0.5) * g
        xx, yy = np.meshgrid(xs, ys)
        cls = ground_classes(xx, yy)
        del xx, yy
        rng = _strip_rng(spec.seed, 1, row)
        texture = 1.0 + 0.08 * rng.standard_normal((h, spec.width), dtype=np.float32)
        for b in range(4):
            refl = _SPECTRA[cls, b] * texture
            refl += rng.normal(0.0, 0.003, refl.shape).astype(np.float32)
            dn = np.clip(refl * 10000.0, 1, 10000).astype(np.uint16)
            ds.GetRasterBand(b + 1).WriteArray(dn, 0, row)
        ds.FlushCache()  # whole block rows: written once, then dropped from the cache
    ds = None


def _sar_grid(spec: SceneSpec) -> tuple[int, int, tuple[float, ...]]:
    """SAR grid in its CRS: the optical footprint's bounding box plus 2 % on each side."""
    opt_srs, sar_srs = _srs(spec.optical_epsg), _srs(spec.sar_epsg)
    x0, y1 = spec.origin
    x1, y0 = x0 + spec.width * spec.gsd, y1 - spec.height * spec.gsd
    mx, my = 0.02 * (x1 - x0), 0.02 * (y1 - y0)
    ct = osr.CoordinateTransformation(opt_srs, sar_srs)
    sx0, sy0, sx1, sy1 = ct.TransformBounds(x0 - mx, y0 - my, x1 + mx, y1 + my, 21)
    p = spec.sar_pixel_deg
    sw, sh = int(math.ceil((sx1 - sx0) / p)), int(math.ceil((sy1 - sy0) / p))
    return sw, sh, (sx0, p, 0.0, sy1, 0.0, -p)


def _to_optical_crs(spec: SceneSpec, gt: tuple[float, ...], cols: np.ndarray, row0: int,
                    h: int) -> tuple[np.ndarray, np.ndarray]:
    """Optical-CRS coordinates of the SAR pixel centres of rows [row0, row0+h): exact on a grid
    every 32 pixels, bilinear in between (sub-millimetre error at these distances)."""
    ct = osr.CoordinateTransformation(_srs(spec.sar_epsg), _srs(spec.optical_epsg))
    step = 32
    gc = np.unique(np.append(np.arange(0, cols.size, step), cols.size - 1))
    gr = np.unique(np.append(np.arange(0, h, step), h - 1))
    lon = gt[0] + (gc + 0.5) * gt[1]
    lat = gt[3] + (row0 + gr + 0.5) * gt[5]
    glon, glat = np.meshgrid(lon, lat)
    pts = np.array(ct.TransformPoints(np.column_stack([glon.ravel(), glat.ravel()])))
    ex = pts[:, 0].reshape(glat.shape)
    ny = pts[:, 1].reshape(glat.shape)
    rows = np.arange(h)
    i = np.clip(np.searchsorted(gr, rows, side="right") - 1, 0, max(gr.size - 2, 0))
    j = np.minimum(i + 1, gr.size - 1)
    t = ((rows - gr[i]) / np.maximum(gr[j] - gr[i], 1))[:, None]
    out = []
    for field in (ex, ny):
        along = np.stack([np.interp(cols, gc, field[k]) for k in range(gr.size)])
        out.append(along[i] * (1.0 - t) + along[j] * t)
    return out[0], out[1]


def _write_sar(path: Path, spec: SceneSpec) -> None:
    sw, sh, gt = _sar_grid(spec)
    ds = _create(path, sw, sh, 1, gdal.GDT_Float32, 3, gt, _srs(spec.sar_epsg),
                 ["VV"], "dB", nodata=SAR_NODATA)
    x0, y1 = spec.origin
    x1, y0 = x0 + spec.width * spec.gsd, y1 - spec.height * spec.gsd
    cols = np.arange(sw)
    band = ds.GetRasterBand(1)
    for row in range(0, sh, STRIP):
        h = min(STRIP, sh - row)
        ex, ny = _to_optical_crs(spec, gt, cols, row, h)
        cls = ground_classes(ex, ny)
        rng = _strip_rng(spec.seed, 2, row)
        speckle = rng.gamma(4.4, 1.0 / 4.4, size=(h, sw)).astype(np.float32)  # mean 1
        db = _SAR_DB[cls] + 10.0 * np.log10(np.maximum(speckle, 1e-6))
        db[(ex < x0) | (ex > x1) | (ny < y0) | (ny > y1)] = SAR_NODATA  # outside the ground
        band.WriteArray(db.astype(np.float32), 0, row)
        ds.FlushCache()
    ds = None


def scene_paths(folder: str | os.PathLike[str], name: str) -> dict[str, Path]:
    f = Path(folder)
    return {"optical": f / f"synthetic_{name}_optical.tif", "sar": f / f"synthetic_{name}_sar.tif",
            "manifest": f / f"synthetic_{name}.json"}


def write_scene(folder: str | os.PathLike[str], name: str, spec: SceneSpec,
                reuse: bool = True) -> dict[str, Path]:
    """Write (or reuse, when an identical spec was written before) a SYNTHETIC scene."""
    paths = scene_paths(folder, name)
    paths["manifest"].parent.mkdir(parents=True, exist_ok=True)
    want = asdict(spec)
    if reuse and paths["manifest"].is_file() and paths["optical"].is_file() \
            and paths["sar"].is_file():
        have = json.loads(paths["manifest"].read_text())
        if have.get("spec") == json.loads(json.dumps(want)):
            return paths
    paths["manifest"].unlink(missing_ok=True)
    t = time.perf_counter()
    # Only the strip being written is cached: generation memory does not grow with the scene.
    old = gdal.GetCacheMax()
    gdal.SetCacheMax(64 * 1024 * 1024)
    try:
        _write_optical(paths["optical"], spec)
        _write_sar(paths["sar"], spec)
    finally:
        gdal.SetCacheMax(old)
    sw, sh, _ = _sar_grid(spec)
    paths["manifest"].write_text(json.dumps({
        "spec": want, "synthetic": True, "sar_size": [sw, sh],
        "seconds": round(time.perf_counter() - t, 1),
    }, indent=1))
    return paths


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Write a SYNTHETIC optical + SAR scene, by strips.")
    ap.add_argument("folder")
    ap.add_argument("--name", default="scene")
    ap.add_argument("--width", type=int, default=5556)
    ap.add_argument("--height", type=int, default=3704)
    args = ap.parse_args()
    paths = write_scene(args.folder, args.name, SceneSpec(args.width, args.height), reuse=False)
    print(json.dumps({k: str(v) for k, v in paths.items()}, indent=1))


if __name__ == "__main__":
    main()
