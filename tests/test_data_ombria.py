"""OMBRIA reader: on generated files in the published layout, and on the real data if present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

from model_export.data import build_dataset
from model_export.data._io import default_data_root
from model_export.data.ombria import OmbriaDataset
from model_export.data.spec import OMBRIA_SPEC, DatasetSpec
from tests.conftest import require_shared_data

gdal.UseExceptions()


def _png(path: Path, arr: np.ndarray) -> None:
    arr = arr[None] if arr.ndim == 2 else arr
    mem = gdal.GetDriverByName("MEM").Create("", arr.shape[2], arr.shape[1], arr.shape[0],
                                             gdal.GDT_Byte)
    for i in range(arr.shape[0]):
        mem.GetRasterBand(i + 1).WriteArray(arr[i])
    path.parent.mkdir(parents=True, exist_ok=True)
    gdal.GetDriverByName("PNG").CreateCopy(str(path), mem)


def make_ombria(root: Path, n_train: int = 10, n_test: int = 3, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for folder, ids in (("train", range(1, n_train + 1)), ("test", range(101, 101 + n_test))):
        for i in ids:
            _png(root / folder / "S1" / f"S1_after_{i:04d}.png",
                 np.full((size, size), i, np.uint8))
            _png(root / folder / "S2" / f"S2_after_{i:04d}.png",
                 rng.integers(0, 255, (3, size, size), dtype=np.uint8))
            mask = np.zeros((size, size), np.uint8)
            mask[: size // 2] = 255
            mask[0, 0] = 128  # not a valid mask value -> ignore
            _png(root / folder / "MASK" / f"mask_{i:04d}.png", mask)
    return root


def test_generated_layout(tmp_path: Path) -> None:
    root = make_ombria(tmp_path / "ombria")
    train = OmbriaDataset(root, "train", val_fraction=0.3, split_seed=7)
    val = OmbriaDataset(root, "val", val_fraction=0.3, split_seed=7)
    test = OmbriaDataset(root, "test")
    assert (len(train), len(val), len(test)) == (7, 3, 3)
    assert not set(train.ids) & set(val.ids)
    assert sorted(train.ids + val.ids) == [f"{i:04d}" for i in range(1, 11)]
    assert test.ids == ["0101", "0102", "0103"]
    # Same seed, same split; another seed, (almost surely) another split.
    assert OmbriaDataset(root, "val", val_fraction=0.3, split_seed=7).ids == val.ids
    assert OmbriaDataset(root, "val", val_fraction=0.3, split_seed=8).ids != val.ids

    s = train[0]
    assert s["optical"].shape == (3, 16, 16) and s["optical"].dtype == torch.float32
    assert s["sar"].shape == (1, 16, 16) and s["sar"].dtype == torch.float32
    assert s["label"].shape == (16, 16) and s["label"].dtype == torch.int64
    # Native units: the S1 value written is the patch number.
    assert float(s["sar"].max()) == float(int(s["id"]))
    assert s["label"][0, 0] == 255 and s["label"][0, 1] == 1 and s["label"][-1, -1] == 0
    assert set(torch.unique(s["label"]).tolist()) == {0, 1, 255}


def test_cache_and_factory(tmp_path: Path) -> None:
    root = make_ombria(tmp_path / "ombria")
    ds = OmbriaDataset(root, "train", cache=True, max_samples=2)
    a, b = ds[1], ds[1]
    assert len(ds) == 2 and torch.equal(a["optical"], b["optical"])
    via_cfg = build_dataset({"dataset": "ombria", "data_root": str(tmp_path)}, "test")
    assert len(via_cfg) == 3
    with pytest.raises(FileNotFoundError):
        OmbriaDataset(tmp_path / "missing", "train")
    with pytest.raises(ValueError):
        OmbriaDataset(root, "validation")


def test_spec_round_trip() -> None:
    d = OMBRIA_SPEC.to_dict()
    assert d["classes"] == [{"value": 0, "name": "not water", "colour": "#d9d9d9"},
                            {"value": 1, "name": "water", "colour": "#0070ff"}]
    assert d["ignore_index"] == 255 and d["optical_units"] == "uint8_rendering"
    assert [b["name"] for b in d["optical_bands"]] == ["red", "green", "blue"]
    assert "B04" in d["optical_bands"][0]["aliases"]
    back = DatasetSpec.from_dict(d)
    assert back.to_dict() == d and back.class_index("Water") == 1


REAL = default_data_root() / "ombria"


def test_real_ombria() -> None:
    require_shared_data("ombria/train/S1")  # fails, never skips, when the data is missing
    train, val, test = (OmbriaDataset(REAL, s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (562, 62, 70)
    assert not set(train.ids) & set(val.ids) and not set(val.ids) & set(test.ids)
    water = []
    for ds in (train, test):
        s = ds[0]
        assert s["optical"].shape == (3, 256, 256) and s["sar"].shape == (1, 256, 256)
        assert float(s["optical"].min()) >= 0 and float(s["optical"].max()) <= 255
        assert set(torch.unique(s["label"]).tolist()) <= {0, 1}
    for i in range(0, 562, 56):
        water.append(float((train[i]["label"] == 1).float().mean()))
    assert 0.1 < float(np.mean(water)) < 0.6  # README: about one third is water


def _river_patch(root: Path, size: int = 32) -> np.ndarray:
    """One train/ patch whose river (dark SAR on both dates, water-like before) is outside the
    flood mask; returns the river's pixels."""
    rng = np.random.default_rng(3)
    sar_after = rng.normal(170, 8, (size, size))
    sar_before = rng.normal(170, 8, (size, size))
    optical_before = np.stack([np.full((size, size), v) for v in (60.0, 70.0, 30.0)])
    river = np.zeros((size, size), bool)
    river[:, 10:16] = True
    for sar in (sar_after, sar_before):
        sar[river] -= 90
    optical_before[:, river] = np.array([10.0, 40.0, 45.0])[:, None]
    mask = np.zeros((size, size), np.uint8)
    mask[24:, 20:] = 255  # the flood
    sar_after[mask == 255] -= 90
    as_u8 = lambda a: a.clip(0, 255).astype(np.uint8)  # noqa: E731
    for sub, name, arr in (("S1", "S1_after", sar_after), ("S1_before", "S1_before", sar_before),
                           ("S2", "S2_after", optical_before),
                           ("S2_before", "S2_before", optical_before), ("MASK", "mask", mask)):
        _png(root / "train" / sub / f"{name}_0001.png", as_u8(arr))
    return river


def test_permanent_water_keep_ignore_or_water(tmp_path: Path) -> None:
    root = tmp_path / "ombria"
    river = _river_patch(root)
    inner = river.copy()
    inner[:, [10, 15]] = False  # the 5x5 smoothing may shave the river's edge columns
    labels = {pw: OmbriaDataset(root, "train", val_scheme="none", permanent_water=pw)[0][
        "label"].numpy() for pw in ("keep", "ignore", "water")}
    assert (labels["keep"][river] == 0).all()  # as published: the river is "not flooded"
    assert (labels["ignore"][inner] == 255).all()
    assert (labels["water"][inner] == 1).all()
    changed = labels["water"] != labels["keep"]
    assert (changed == (labels["ignore"] == 255)).all()  # the same pixels, another label
    assert (changed <= river).all()  # dry land and the flood keep their labels
    assert (labels["water"][24:, 20:] == 1).all() and (labels["water"][:, :8] == 0).all()
    with pytest.raises(ValueError, match="permanent_water"):
        OmbriaDataset(root, "train", permanent_water="flood")
