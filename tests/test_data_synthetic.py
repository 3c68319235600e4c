"""SYNTHETIC scene generator: georeferencing, SAR on another CRS, clouds, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from osgeo import gdal

from model_export.data.synthetic import (
    SAR_NODATA,
    WATER,
    SyntheticDataset,
    make_synthetic_arrays,
    write_synthetic_scene,
)
from model_export.data.whu_opt_sar import WhuOptSarDataset

gdal.UseExceptions()


def test_scene_with_sar_in_another_crs(tmp_path: Path) -> None:
    paths = write_synthetic_scene(tmp_path, 96, 80, seed=3, sar_crs="EPSG:4326", sar_margin=0.1)
    assert all("synthetic" in p.name for p in paths.values())
    opt, sar = gdal.Open(str(paths["optical"])), gdal.Open(str(paths["sar"]))
    assert opt.GetSpatialRef().GetAuthorityCode(None) == "32650"
    assert sar.GetSpatialRef().GetAuthorityCode(None) == "4326"
    assert opt.GetMetadataItem("SYNTHETIC") == "YES" and "synthetic" in sar.GetMetadataItem(
        "DESCRIPTION")
    assert (opt.RasterXSize, opt.RasterYSize, opt.RasterCount) == (96, 80, 4)
    assert opt.GetRasterBand(1).DataType == gdal.GDT_UInt16
    assert sar.GetRasterBand(1).DataType == gdal.GDT_Float32
    assert 100 < abs(sar.GetGeoTransform()[0]) < 120  # longitude near Wuhan, in degrees

    # Reprojecting the SAR onto the optical grid brings back the ground truth: per-class dB
    # means follow the physics encoded in the generator (water dark, city bright).
    warped = gdal.Warp("", sar, format="MEM", dstSRS=opt.GetProjection(),
                       outputBounds=(240000.0, 3380000.0 - 800.0, 240960.0, 3380000.0),
                       width=96, height=80, resampleAlg="near")
    db = warped.ReadAsArray()
    label = gdal.Open(str(paths["label"])).ReadAsArray() // 10
    assert np.all(db != SAR_NODATA)  # margin > 0: the SAR covers the whole optical footprint
    water, land = db[label == WATER].mean(), db[label != WATER].mean()
    assert water < land - 5.0
    if (label == 2).any():
        assert db[label == 2].mean() > land

    # Clouds hide the optical (bright, flat) but not the SAR.
    cloud = gdal.Open(str(paths["cloud"])).ReadAsArray() >= 99
    red = opt.GetRasterBand(3).ReadAsArray().astype(float)
    assert cloud.mean() > 0.02
    assert red[cloud].mean() > 5000 > red[~cloud].mean()
    if (cloud & (label == WATER)).sum() > 10:
        assert db[cloud & (label == WATER)].mean() < land - 5.0


def test_same_grid_and_whu_layout(tmp_path: Path) -> None:
    for k in range(2):
        p = write_synthetic_scene(tmp_path / f"s{k}", 64, 64, seed=k)
        for kind, folder in (("optical", "optical"), ("sar", "sar"), ("label", "lbl")):
            (tmp_path / "whu" / folder).mkdir(parents=True, exist_ok=True)
            p[kind].rename(tmp_path / "whu" / folder / f"synthetic_{k}.tif")
    sar = gdal.Open(str(tmp_path / "whu" / "sar" / "synthetic_0.tif"))
    assert (sar.RasterXSize, sar.RasterYSize) == (64, 64)
    ds = WhuOptSarDataset(tmp_path / "whu", "all", patch_size=32)
    assert len(ds) == 8 and ds[0]["sar"].dtype == torch.float32
    assert int(ds[0]["label"].max()) <= 7


def test_arrays_and_dataset_deterministic() -> None:
    a, b = make_synthetic_arrays(48, 40, seed=5), make_synthetic_arrays(48, 40, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["optical"].shape == (4, 40, 48) and a["sar"].shape == (1, 40, 48)
    ds = SyntheticDataset(num_samples=3, size=32, seed=1)
    s = ds[2]
    assert ds.spec.name == "synthetic_water" and s["id"].startswith("synthetic_")
    assert set(torch.unique(s["label"]).tolist()) <= {0, 1}
    assert torch.equal(SyntheticDataset(3, 32, seed=1)[2]["sar"], s["sar"])
    assert not torch.equal(SyntheticDataset(3, 32, seed=1, split="val")[2]["sar"], s["sar"])
    assert SyntheticDataset(2, 32, classes="whu").spec.num_classes == 8
