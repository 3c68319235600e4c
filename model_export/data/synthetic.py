"""SYNTHETIC optical + SAR scenes for tests and benchmarks (generated, not real data).

A land-cover layout with the WHU-OPT-SAR classes (warped Voronoi fields, a river, lakes, roads),
per-class surface reflectance (blue, green, red, NIR, stored as reflectance x 10000 in uint16),
per-class SAR backscatter in dB with multiplicative gamma speckle, and clouds that hide the optical
but not the SAR. :func:`write_synthetic_scene` writes georeferenced GeoTIFFs where optical and SAR
may have different CRS, resolution and extent (e.g. optical EPSG:32650 at 10 m, SAR EPSG:4326):
the SAR is sampled from the same ground truth through a real coordinate transformation, so a
correct reprojection brings it back onto the optical grid. Every file and dataset carries
"synthetic" in its name and metadata.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from osgeo import gdal, osr
from torch.utils.data import Dataset

from model_export.data._io import make_sample
from model_export.data.spec import SYNTHETIC_SPEC, SYNTHETIC_WATER_SPEC, DatasetSpec

gdal.UseExceptions()

WATER = 4
# Surface reflectance (blue, green, red, NIR) per WHU-OPT-SAR class: textbook-like shapes, e.g.
# vegetation's red edge, water dark in NIR, built-up flat and bright.
SPECTRA = np.array([
    [0.10, 0.11, 0.13, 0.18],  # background (bare)
    [0.05, 0.09, 0.06, 0.34],  # farmland
    [0.15, 0.16, 0.18, 0.21],  # city
    [0.11, 0.12, 0.14, 0.24],  # village
    [0.07, 0.06, 0.04, 0.015],  # water
    [0.03, 0.06, 0.03, 0.42],  # forest
    [0.17, 0.18, 0.19, 0.21],  # road
    [0.14, 0.15, 0.19, 0.26],  # others
], dtype=np.float32)
CLOUD_REFLECTANCE = np.array([0.62, 0.63, 0.64, 0.60], dtype=np.float32)
# Mean sigma0 in dB per class: smooth water is dark, double bounce in built-up areas is bright.
SAR_DB = np.array([-13.0, -11.0, 1.0, -4.0, -21.0, -7.5, -16.0, -12.5], dtype=np.float32)
SAR_NODATA = -9999.0
# Classes the Voronoi fields draw from (water, roads come from their own geometry).
FIELD_CLASSES = np.array([0, 1, 1, 1, 2, 3, 3, 5, 5, 7])


def _smooth_noise(h: int, w: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Value noise in [0, 1): random coarse grid, bilinear upsampling."""
    gh, gw = int(h / scale) + 2, int(w / scale) + 2
    grid = rng.random((gh, gw), dtype=np.float32)
    y = np.arange(h, dtype=np.float32) / scale
    x = np.arange(w, dtype=np.float32) / scale
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    a, b = grid[y0][:, x0], grid[y0][:, x0 + 1]
    c, d = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _fractal(h: int, w: int, scale: float, rng: np.random.Generator, octaves: int = 3,
             ) -> np.ndarray:
    out, amp, total = np.zeros((h, w), np.float32), 1.0, 0.0
    for o in range(octaves):
        out += amp * _smooth_noise(h, w, max(scale / 2**o, 1.0), rng)
        total += amp
        amp *= 0.5
    return out / total


def synthetic_layout(height: int, width: int, rng: np.random.Generator,
                     cell: float = 40.0) -> np.ndarray:
    """Class-index map ``[H, W]`` (uint8, WHU-OPT-SAR classes 0..7)."""
    n = max(4, int(height * width / cell**2))
    sy, sx = rng.uniform(0, height, n), rng.uniform(0, width, n)
    cls = rng.choice(FIELD_CLASSES, n)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # Warp coordinates so field borders are not straight Voronoi edges.
    wy = yy + (_smooth_noise(height, width, cell, rng) - 0.5) * cell * 0.6
    wx = xx + (_smooth_noise(height, width, cell, rng) - 0.5) * cell * 0.6
    best = np.full((height, width), np.inf, np.float32)
    layout = np.zeros((height, width), np.uint8)
    for i in range(n):
        d = (wy - sy[i]) ** 2 + (wx - sx[i]) ** 2
        closer = d < best
        best[closer] = d[closer]
        layout[closer] = cls[i]
    # A meandering river across the scene and a few lakes.
    amp, period = rng.uniform(0.05, 0.15) * height, rng.uniform(0.6, 1.5) * width
    centre = rng.uniform(0.3, 0.7) * height + amp * np.sin(2 * np.pi * xx / period
                                                          + rng.uniform(0, 2 * np.pi))
    half = rng.uniform(0.03, 0.07) * min(height, width) + 2.0
    layout[np.abs(yy - centre) < half] = WATER
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.04, 0.12, 2) * min(height, width) + 2.0
        layout[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1.0] = WATER
    # Straight roads, 2-3 pixels wide, drawn over land only.
    for _ in range(int(rng.integers(1, 4))):
        angle = rng.uniform(0, np.pi)
        py, px = rng.uniform(0, height), rng.uniform(0, width)
        dist = np.abs((yy - py) * np.cos(angle) - (xx - px) * np.sin(angle))
        layout[(dist < rng.uniform(1.0, 1.6)) & (layout != WATER)] = 6
    return layout


def synthetic_optical(layout: np.ndarray, cloud: np.ndarray, rng: np.random.Generator,
                      ) -> np.ndarray:
    """Reflectance x 10000 ``[4, H, W]`` float32; ``cloud`` is an opacity map in [0, 1]."""
    h, w = layout.shape
    texture = 1.0 + 0.15 * (_fractal(h, w, 8.0, rng) - 0.5)
    refl = SPECTRA[layout].transpose(2, 0, 1) * texture[None]
    refl += rng.normal(0.0, 0.004, refl.shape).astype(np.float32)
    refl = (1.0 - cloud[None]) * refl + cloud[None] * CLOUD_REFLECTANCE[:, None, None]
    return np.clip(refl * 10000.0, 0, 10000).astype(np.float32)


def synthetic_sar_db(layout: np.ndarray, rng: np.random.Generator, looks: float = 4.4,
                     ) -> np.ndarray:
    """Backscatter in dB ``[1, H, W]``: class mean + texture, multiplicative gamma speckle."""
    h, w = layout.shape
    db = SAR_DB[layout] + 2.0 * (_fractal(h, w, 10.0, rng) - 0.5)
    speckle = rng.gamma(looks, 1.0 / looks, size=(h, w)).astype(np.float32)  # mean 1
    linear = np.power(10.0, db / 10.0, dtype=np.float32) * speckle
    return (10.0 * np.log10(np.maximum(linear, 1e-6)))[None].astype(np.float32)


def synthetic_cloud(height: int, width: int, fraction: float, rng: np.random.Generator,
                    ) -> np.ndarray:
    """Cloud opacity in [0, 1] covering about ``fraction`` of the scene (soft edges)."""
    if fraction <= 0:
        return np.zeros((height, width), np.float32)
    field = _fractal(height, width, max(height, width) / 4.0, rng, octaves=4)
    thr = np.quantile(field, 1.0 - min(fraction, 1.0))
    return np.clip((field - thr) / 0.04 + 0.5, 0.0, 1.0).astype(np.float32)


def make_synthetic_arrays(width: int = 128, height: int = 128, seed: int = 0,
                          cloud_fraction: float = 0.15) -> dict[str, np.ndarray]:
    """One SYNTHETIC scene on a single grid: optical, sar (dB), label (class index), cloud."""
    rng = np.random.default_rng(seed)
    layout = synthetic_layout(height, width, rng)
    cloud = synthetic_cloud(height, width, cloud_fraction, rng)
    return {"optical": synthetic_optical(layout, cloud, rng), "sar": synthetic_sar_db(layout, rng),
            "label": layout.astype(np.int64), "cloud": cloud}


def _srs(crs: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)  # x = easting / longitude
    return srs


def _write(path: Path, array: np.ndarray, gt: tuple[float, ...], srs: osr.SpatialReference,
           gdal_type: int, descriptions: list[str], metadata: dict[str, str],
           nodata: float | None = None) -> None:
    arr = array[None] if array.ndim == 2 else array
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(str(path), arr.shape[2], arr.shape[1], arr.shape[0], gdal_type,
                    options=["COMPRESS=DEFLATE", "TILED=YES"])
    ds.SetGeoTransform(gt)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetMetadata(metadata)
    for i in range(arr.shape[0]):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(arr[i])
        band.SetDescription(descriptions[i])
        if nodata is not None:
            band.SetNoDataValue(nodata)
    ds.FlushCache()
    ds = None  # noqa: F841 - closes the file


def _write_optical_grid(paths: dict[str, Path], optical: np.ndarray, layout: np.ndarray,
                        cloud: np.ndarray, label_coding: str,
                        grid: tuple[tuple[float, ...], osr.SpatialReference],
                        meta: dict[str, str]) -> None:
    """The optical, label and cloud GeoTIFFs: all three on the optical grid."""
    opt_gt, opt_srs = grid
    _write(paths["optical"], np.round(optical).astype(np.uint16), opt_gt, opt_srs, gdal.GDT_UInt16,
           [f"synthetic {b}, reflectance x 10000" for b in ("blue", "green", "red", "nir")],
           {**meta, "UNITS": "reflectance x 10000"})
    codes = layout * 10 if label_coding == "whu" else layout
    _write(paths["label"], codes.astype(np.uint8), opt_gt, opt_srs, gdal.GDT_Byte,
           [f"synthetic land cover ({label_coding} coding)"], meta)
    _write(paths["cloud"], np.round(cloud * 100).astype(np.uint8), opt_gt, opt_srs, gdal.GDT_Byte,
           ["synthetic cloud opacity, percent"], meta)


def _extent_in(footprint: tuple[float, float, float, float], src: osr.SpatialReference,
               dst: osr.SpatialReference) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) in `dst` of the (x0, x1, y0, y1) `footprint` in `src`: the
    bounding box of 21 points along each edge (a reprojected rectangle bends)."""
    ex0, ex1, ey0, ey1 = footprint
    if dst.IsSame(src):
        return ex0, ey0, ex1, ey1
    to_dst = osr.CoordinateTransformation(src, dst)
    edge = np.linspace(0.0, 1.0, 21)
    ring = ([(ex0 + t * (ex1 - ex0), ey0) for t in edge]
            + [(ex0 + t * (ex1 - ex0), ey1) for t in edge]
            + [(ex0, ey0 + t * (ey1 - ey0)) for t in edge]
            + [(ex1, ey0 + t * (ey1 - ey0)) for t in edge])
    pts = np.array(to_dst.TransformPoints(ring))
    return pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()


def _ground_under(big: np.ndarray, pad: int, sar_gt: tuple[float, ...], shape: tuple[int, int],
                  sar_srs: osr.SpatialReference, opt_gt: tuple[float, ...],
                  opt_srs: osr.SpatialReference) -> tuple[np.ndarray, np.ndarray]:
    """(ground-truth class under each SAR pixel, whether it lies inside the padded ground)."""
    sh, sw = shape
    sx0, res, sy1 = sar_gt[0], sar_gt[1], sar_gt[3]
    x0, gsd, y0 = opt_gt[0], opt_gt[1], opt_gt[3]
    # Centre of each SAR pixel -> optical CRS -> nearest cell of the padded ground truth.
    cx = sx0 + (np.arange(sw) + 0.5) * res
    cy = sy1 - (np.arange(sh) + 0.5) * res
    gx, gy = np.meshgrid(cx, cy)
    if sar_srs.IsSame(opt_srs):
        ox, oy = gx, gy
    else:
        to_opt = osr.CoordinateTransformation(sar_srs, opt_srs)
        back = np.array(to_opt.TransformPoints(np.column_stack([gx.ravel(), gy.ravel()])))
        ox, oy = back[:, 0].reshape(sh, sw), back[:, 1].reshape(sh, sw)
    col = np.floor((ox - x0) / gsd).astype(np.int64) + pad
    row = np.floor((y0 - oy) / gsd).astype(np.int64) + pad
    inside = (row >= 0) & (row < big.shape[0]) & (col >= 0) & (col < big.shape[1])
    return big[np.clip(row, 0, big.shape[0] - 1), np.clip(col, 0, big.shape[1] - 1)], inside


def write_synthetic_scene(out_dir: str | os.PathLike[str], width: int = 256, height: int = 256,
                          *, seed: int = 0, gsd: float = 10.0, optical_crs: str = "EPSG:32650",
                          origin: tuple[float, float] = (240000.0, 3380000.0),
                          sar_crs: str | None = None, sar_resolution: float | None = None,
                          sar_margin: float = 0.0, cloud_fraction: float = 0.15,
                          label_coding: str = "whu", prefix: str = "synthetic",
                          ) -> dict[str, Path]:
    """Write a SYNTHETIC scene as GeoTIFFs and return ``{"optical", "sar", "label", "cloud"}``.

    Optical (uint16, reflectance x 10000, bands blue/green/red/NIR), label (uint8; ``"whu"``
    coding 0/10/.../70 or ``"index"`` 0..7) and cloud opacity (uint8 0..100) share the optical
    grid: ``optical_crs``, ``gsd`` metres, upper-left corner ``origin`` (default: near Wuhan in
    UTM 50N). The SAR (float32 dB, nodata -9999) is on its own north-up grid in ``sar_crs``
    (default: the optical CRS) with pixel size ``sar_resolution`` in that CRS's units (default
    ``gsd`` or its equivalent in degrees), covering the optical footprint grown by ``sar_margin``
    (a fraction of its size on each side; negative shrinks it).
    """
    if label_coding not in {"whu", "index"}:
        raise ValueError(f"label_coding must be 'whu' or 'index', got {label_coding!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # Ground truth on the optical grid padded on every side, so a SAR grid that is larger or
    # rotated with respect to the optical one still samples real (synthetic) ground.
    pad = int(math.ceil(max(width, height) * (0.25 + max(sar_margin, 0.0))))
    big = synthetic_layout(height + 2 * pad, width + 2 * pad, rng)
    layout = big[pad:pad + height, pad:pad + width]
    cloud = synthetic_cloud(height, width, cloud_fraction, rng)
    optical = synthetic_optical(layout, cloud, rng)

    opt_srs = _srs(optical_crs)
    x0, y0 = origin
    opt_gt = (x0, gsd, 0.0, y0, 0.0, -gsd)
    meta = {"SYNTHETIC": "YES", "SEED": str(seed),
            "DESCRIPTION": "synthetic scene from model_export.data.synthetic; not real data"}
    paths = {k: out / f"{prefix}_{k}.tif" for k in ("optical", "sar", "label", "cloud")}
    _write_optical_grid(paths, optical, layout, cloud, label_coding, (opt_gt, opt_srs), meta)

    # SAR grid: bounding box of the (grown) optical footprint in the SAR CRS.
    sar_srs = _srs(sar_crs) if sar_crs else opt_srs
    if sar_resolution is None:
        same = sar_srs.IsSame(opt_srs)
        sar_resolution = gsd if (same or not sar_srs.IsGeographic()) else gsd / 111320.0
    mx, my = sar_margin * width * gsd, sar_margin * height * gsd
    footprint = (x0 - mx, x0 + width * gsd + mx, y0 - height * gsd - my, y0 + my)
    sx0, sy0, sx1, sy1 = _extent_in(footprint, opt_srs, sar_srs)
    sw = max(1, int(math.ceil((sx1 - sx0) / sar_resolution)))
    sh = max(1, int(math.ceil((sy1 - sy0) / sar_resolution)))
    sar_gt = (sx0, sar_resolution, 0.0, sy1, 0.0, -sar_resolution)
    sar_layout, inside = _ground_under(big, pad, sar_gt, (sh, sw), sar_srs, opt_gt, opt_srs)
    sar = synthetic_sar_db(sar_layout, rng)
    sar[0][~inside] = SAR_NODATA
    _write(paths["sar"], sar, sar_gt, sar_srs, gdal.GDT_Float32, ["synthetic VV, dB"],
           {**meta, "UNITS": "dB"}, nodata=SAR_NODATA)
    return paths


class SyntheticDataset(Dataset):
    """In-memory SYNTHETIC patches on one grid (for tests, benchmarks and smoke training).

    ``classes="whu"`` keeps the 8 WHU-OPT-SAR classes; ``"water"`` gives water / not water like
    OMBRIA. Patch ``i`` is generated from ``seed * 100003 + i``, so a dataset is reproducible.
    """

    def __init__(self, num_samples: int = 8, size: int = 64, seed: int = 0,
                 classes: str = "water", cloud_fraction: float = 0.15,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 split: str = "train") -> None:
        if classes not in {"whu", "water"}:
            raise ValueError(f"classes must be 'whu' or 'water', got {classes!r}")
        self.spec: DatasetSpec = SYNTHETIC_SPEC if classes == "whu" else SYNTHETIC_WATER_SPEC
        # Different splits draw different scenes.
        offset = {"train": 0, "val": 50000, "test": 90000}.get(split, 0)
        self.seeds = [seed * 100003 + offset + i for i in range(num_samples)]
        self.size, self.classes, self.cloud_fraction = size, classes, cloud_fraction
        self.transform = transform
        self._cache: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index not in self._cache:
            self._cache[index] = make_synthetic_arrays(self.size, self.size, self.seeds[index],
                                                       self.cloud_fraction)
        a = self._cache[index]
        label = (a["label"] == WATER).astype(np.int64) if self.classes == "water" else a["label"]
        sample = make_sample(a["optical"], a["sar"], label, id=f"synthetic_{self.seeds[index]}")
        return self.transform(sample) if self.transform else sample
