"""A tiny UPSeg-shaped ONNX model whose output tests can predict exactly (a helper, not a test).

The graph is a 1x1 convolution of the concatenated normalised inputs:
    logits[k] = sum_c W[k, c] * concat(optical, sar)[c] + B[k]
With the default weights, class 1 "water" wins where the SAR is darker than the training mean
(plus a small blue-minus-red term), class 0 "not water" elsewhere. With `smooth=n` the logits are
then averaged over n x n pixels (zero padding at the input's edges), as a real network's
receptive field does: a tile's edge pixels then differ from the whole image's, so only proper
blending of overlapping tiles hides the seams. `toy_logits` computes the same in numpy. Built
with onnx.helper, so tests need neither torch nor the real model.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

# Metadata in the exporter's shape (docs/metadata.md); test_core_toy_model validates it against
# the JSON schema and the plugin's parser.
TOY_METADATA: dict[str, Any] = {
    "schema_version": 1,
    "model": {
        "name": "toy_water",
        "variant": "toy_1x1",
        "version": "0.0.1",
        "description": "Test model: a 1x1 convolution, not trained.",
    },
    "classes": [
        {"value": 0, "name": "not water", "colour": "#d8cfb0"},
        {"value": 1, "name": "water", "colour": "#1f78b4"},
    ],
    "nodata_value": 255,
    "inputs": {
        "optical": {
            "bands": [
                {"name": "B4", "description": "Sentinel-2 B4 red", "aliases": ["red", "B04"]},
                {"name": "B3", "description": "Sentinel-2 B3 green", "aliases": ["green", "B03"]},
                {"name": "B2", "description": "Sentinel-2 B2 blue", "aliases": ["blue", "B02"]},
            ],
            "dtype": "uint8",
            "units": "uint8_rendering",
            "valid_range": [0, 255],
            "conversions": [
                {"from": "reflectance", "scale": 637.5, "offset": 0.0},
                {"from": "reflectance_x10000", "scale": 0.06375, "offset": 0.0},
            ],
            "normalisation": {
                "clip": [0, 255],
                "mean": [100.0, 100.0, 100.0],
                "std": [50.0, 50.0, 50.0],
            },
        },
        "sar": {
            "bands": [{"name": "VV", "description": "Sentinel-1 VV", "aliases": ["vv"]}],
            "dtype": "uint8",
            "units": "uint8_rendering",
            "valid_range": [0, 255],
            "conversions": [
                {"from": "sar_db", "scale": 6.636, "offset": 233.7},
                {"from": "sar_linear", "to_db": True, "scale": 6.636, "offset": 233.7},
            ],
            "normalisation": {"clip": [0, 255], "mean": [140.0], "std": [40.0]},
        },
    },
    "gsd_m": 10.0,
    "tiling": {"tile_size": 64, "overlap": 8, "multiple_of": 16},
    "training": {"dataset": "none (test fixture)"},
    "licence": "GPL-2.0-or-later",
    "citation": "test",
}

# Rows: classes; columns: optical bands (B4, B3, B2) then SAR bands.
DEFAULT_WEIGHTS = np.array(
    [
        [0.0, 0.0, 0.0, 0.0],  # not water: constant 0
        [-0.5, 0.0, 0.5, -2.0],  # water: dark SAR, bluer than red
    ],
    dtype=np.float32,
)
DEFAULT_BIAS = np.array([0.0, 0.0], dtype=np.float32)


def toy_metadata() -> dict[str, Any]:
    """A fresh deep copy a test may change."""
    return copy.deepcopy(TOY_METADATA)


def box_filter(x: np.ndarray, size: int) -> np.ndarray:
    """Mean over size x size pixels of [K, H, W], zero padding (the toy graph's smoothing)."""
    if size <= 1:
        return x
    r = size // 2
    padded = np.pad(x.astype(np.float64), ((0, 0), (r, r), (r, r)))
    h, w = x.shape[1:]
    out = sum(padded[:, dy : dy + h, dx : dx + w] for dy in range(size) for dx in range(size))
    return (out / (size * size)).astype(np.float32)


def toy_logits(
    optical: np.ndarray,
    sar: np.ndarray,
    weights: np.ndarray = DEFAULT_WEIGHTS,
    bias: np.ndarray = DEFAULT_BIAS,
    smooth: int = 0,
) -> np.ndarray:
    """The model's output in numpy: normalised [C, H, W] inputs -> logits [K, H, W]."""
    x = np.concatenate([optical, sar], axis=0).astype(np.float32)
    return box_filter(np.einsum("kc,chw->khw", weights, x) + bias[:, None, None], smooth)


def build_toy_model(
    path: str | Path,
    metadata: dict[str, Any] | None | bool = True,
    weights: np.ndarray = DEFAULT_WEIGHTS,
    bias: np.ndarray = DEFAULT_BIAS,
    static_hw: tuple[int, int] | None = None,
    smooth: int = 0,
) -> Path:
    """Write the toy ONNX model to `path`.

    metadata: True = TOY_METADATA, a dict = that dict, False/None = no `upseg` entry at all.
    static_hw: fixed (H, W) input size instead of dynamic.
    smooth: odd n > 1 averages the logits over n x n pixels (a spatial receptive field).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    meta = toy_metadata() if metadata is True else (metadata or None)
    n_opt = len((meta or TOY_METADATA)["inputs"]["optical"]["bands"])
    n_sar = len((meta or TOY_METADATA)["inputs"]["sar"]["bands"])
    k = weights.shape[0]
    assert weights.shape == (k, n_opt + n_sar), "weights: one row per class, one column per band"
    h, w = static_hw if static_hw else ("H", "W")
    nodes = [
        helper.make_node("Concat", ["optical", "sar"], ["x"], axis=1),
        helper.make_node("Conv", ["x", "W", "B"], ["pointwise" if smooth > 1 else "logits"],
                         kernel_shape=[1, 1]),
    ]
    inits = []
    if smooth > 1:
        assert smooth % 2 == 1, "an odd smoothing size keeps the output aligned"
        r = smooth // 2
        box = np.full((k, 1, smooth, smooth), 1.0 / smooth**2, np.float32)
        inits.append(numpy_helper.from_array(box, "S"))
        nodes.append(helper.make_node("Conv", ["pointwise", "S"], ["logits"], group=k,
                                      kernel_shape=[smooth, smooth], pads=[r, r, r, r]))
    graph = helper.make_graph(
        nodes,
        "upseg_toy",
        [
            helper.make_tensor_value_info("optical", TensorProto.FLOAT, ["N", n_opt, h, w]),
            helper.make_tensor_value_info("sar", TensorProto.FLOAT, ["N", n_sar, h, w]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k, h, w])],
        initializer=[
            numpy_helper.from_array(weights.reshape(k, n_opt + n_sar, 1, 1).astype(np.float32),
                                    "W"),
            numpy_helper.from_array(bias.astype(np.float32), "B"),
            *inits,
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # old enough for any onnxruntime the plugin supports
    if meta is not None:
        helper.set_model_props(model, {"upseg": json.dumps(meta)})
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


# ---------------------------------------------------------------------------------------------
# Small synthetic rasters for the tests.


def write_raster(
    path: str | Path,
    data: np.ndarray,
    geotransform: tuple[float, ...] | None = (3.0, 1e-4, 0.0, 40.0, 0.0, -1e-4),
    epsg: int | None = 4326,
    nodata: float | None = None,
    descriptions: list[str] | None = None,
) -> Path:
    """Write [C, H, W] (or [H, W]) to a GeoTIFF with the numpy dtype's GDAL type."""
    from osgeo import gdal, gdal_array, osr

    arr = data[np.newaxis] if data.ndim == 2 else data
    dtype = gdal_array.NumericTypeCodeToGDALTypeCode(arr.dtype)
    ds = gdal.GetDriverByName("GTiff").Create(
        str(path), arr.shape[2], arr.shape[1], arr.shape[0], dtype
    )
    if geotransform is not None:
        ds.SetGeoTransform(geotransform)
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i in range(arr.shape[0]):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(arr[i])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[i])
    ds = None
    return Path(path)


def scene_fields(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A smooth synthetic scene at (lon, lat): optical 8-bit RGB [3, ...], SAR dB [1, ...].

    Dark-SAR 'lakes' vary over ~40 pixels at 1e-4 degrees, so resampling changes little.
    """
    u = 2 * np.pi * (lon - 3.0) / 0.004
    v = 2 * np.pi * (lat - 40.0) / 0.003
    sar = -13.0 + 8.0 * np.sin(u) * np.cos(v) + 2.0 * np.sin(0.37 * u + 0.5)
    red = 90 + 40 * np.cos(u + 0.3)
    green = 100 + 30 * np.sin(v)
    blue = 110 + 35 * np.sin(u * 0.5 + v)
    return np.stack([red, green, blue]), sar[np.newaxis]


def geographic_scene(
    folder: Path, width: int = 120, height: int = 90, origin: tuple[float, float] = (3.0, 40.0),
    pixel: float = 1e-4,
) -> tuple[Path, Path]:
    """Optical (uint8 RGB) and SAR (float32 dB) on the same EPSG:4326 grid."""
    lon = origin[0] + (np.arange(width) + 0.5) * pixel
    lat = origin[1] - (np.arange(height) + 0.5) * pixel
    lon2, lat2 = np.meshgrid(lon, lat)
    opt, sar = scene_fields(lon2, lat2)
    gt = (origin[0], pixel, 0.0, origin[1], 0.0, -pixel)
    o = write_raster(folder / "optical.tif", np.clip(opt, 0, 255).astype(np.uint8), gt,
                     descriptions=["red", "green", "blue"])
    s = write_raster(folder / "sar.tif", sar.astype(np.float32), gt, descriptions=["VV"])
    return o, s


def utm_sar(
    folder: Path, optical: Path, pixel_m: float = 15.0, epsg: int = 32631, margin_m: float = 60.0
) -> Path:
    """The same scene's SAR sampled on a UTM grid of another resolution, covering `optical`."""
    from osgeo import gdal, osr

    ds = gdal.Open(str(optical))
    gt = ds.GetGeoTransform()
    w, h = ds.RasterXSize, ds.RasterYSize
    ds = None
    geo = osr.SpatialReference()
    geo.ImportFromEPSG(4326)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(epsg)
    for s in (geo, utm):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_utm = osr.CoordinateTransformation(geo, utm)
    xmin, ymin, xmax, ymax = to_utm.TransformBounds(
        gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3], 21
    )
    xmin, ymin, xmax, ymax = xmin - margin_m, ymin - margin_m, xmax + margin_m, ymax + margin_m
    nx, ny = int(np.ceil((xmax - xmin) / pixel_m)), int(np.ceil((ymax - ymin) / pixel_m))
    xs = xmin + (np.arange(nx) + 0.5) * pixel_m
    ys = ymax - (np.arange(ny) + 0.5) * pixel_m
    xx, yy = np.meshgrid(xs, ys)
    to_geo = osr.CoordinateTransformation(utm, geo)
    pts = np.array(to_geo.TransformPoints(np.column_stack([xx.ravel(), yy.ravel()])))
    lon, lat = pts[:, 0].reshape(ny, nx), pts[:, 1].reshape(ny, nx)
    _, sar = scene_fields(lon, lat)
    return write_raster(
        folder / "sar_utm.tif", sar.astype(np.float32), (xmin, pixel_m, 0.0, ymax, 0.0, -pixel_m),
        epsg=epsg, descriptions=["VV"],
    )


def prepared_reference(optical: Path, sar: Path, meta: dict[str, Any] | None = None,
                       opt_units: str = "uint8_rendering", sar_units: str = "sar_db",
                       smooth: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, confidence, valid) of the toy model on two rasters already on one grid,
    computed in numpy without the pipeline."""
    from osgeo import gdal

    from upseg_qgis.core.contract.parsing import parse_metadata

    m = parse_metadata(meta or toy_metadata())
    o = gdal.Open(str(optical)).ReadAsArray().astype(np.float32)
    s = gdal.Open(str(sar)).ReadAsArray().astype(np.float32)
    s = s[np.newaxis] if s.ndim == 2 else s
    on = m.optical.prepare(o, opt_units)
    sn = m.sar.prepare(s[:1], sar_units)
    valid = np.isfinite(on).all(0) & np.isfinite(sn).all(0)
    lg = toy_logits(np.nan_to_num(on), np.nan_to_num(sn), smooth=smooth)
    cls = np.array([c.value for c in m.classes], np.uint8)[lg.argmax(0)]
    cls[~valid] = m.nodata_value
    conf = 1.0 / np.exp(lg - lg.max(0)).sum(0)
    return cls, conf.astype(np.float32), valid
