"""WHU-OPT-SAR, GID and paired-folder readers on small scenes generated in their layouts."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

import model_export.data._scenes as scenes_mod
from model_export.data import build_dataset
from model_export.data._scenes import tile_offsets
from model_export.data.gid import GidDataset
from model_export.data.paired_folder import PairedFolderDataset
from model_export.data.spec import GID5_SPEC
from model_export.data.whu_opt_sar import WhuOptSarDataset, decode_whu_label

gdal.UseExceptions()


def _tif(path: Path, arr: np.ndarray, gdal_type: int = gdal.GDT_Byte) -> None:
    arr = arr[None] if arr.ndim == 2 else arr
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1],
                                              arr.shape[0], gdal_type)
    ds.SetGeoTransform((500000.0, 5.0, 0.0, 3400000.0, 0.0, -5.0))
    for i in range(arr.shape[0]):
        ds.GetRasterBand(i + 1).WriteArray(arr[i])
    ds = None


def _coords(h: int, w: int, scene: int) -> np.ndarray:
    """Pixel values that encode their position, to check windows land where they should."""
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy * 3 + xx + scene * 50) % 250).astype(np.uint8)


def make_whu(root: Path, n: int = 5, h: int = 50, w: int = 70) -> dict[str, np.ndarray]:
    labels = {}
    for s in range(n):
        name = f"NH49E00{s}013"
        base = _coords(h, w, s)
        _tif(root / "optical" / f"{name}.tif", np.stack([base, base + 1, base + 2, base + 3]))
        _tif(root / "sar" / f"{name}.tif", base)
        codes = ((np.arange(h * w).reshape(h, w) % 8) * 10).astype(np.uint8)
        codes[0, :3] = (5, 80, 255)  # not WHU codes -> ignore
        _tif(root / "lbl" / f"{name}.tif", codes)
        labels[name] = codes
    return labels


def test_tile_offsets() -> None:
    assert tile_offsets(70, 32, 32) == [0, 32, 38]
    assert tile_offsets(64, 32, 32) == [0, 32]
    assert tile_offsets(20, 32, 32) == [0]
    assert tile_offsets(100, 32, 16) == [0, 16, 32, 48, 64, 68]


def test_whu_opt_sar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels = make_whu(tmp_path / "whu")
    seen: list[tuple[int, int, int, int]] = []
    real_read = scenes_mod.read_window

    def spy(ds: gdal.Dataset, window: tuple[int, int, int, int] | None = None,
            bands: list[int] | None = None) -> np.ndarray:
        seen.append(window)
        return real_read(ds, window, bands)

    monkeypatch.setattr(scenes_mod, "read_window", spy)
    splits = {s: WhuOptSarDataset(tmp_path / "whu", s, patch_size=32, val_fraction=0.25,
                                  test_fraction=0.2) for s in ("train", "val", "test")}
    scene_sets = {s: {sc.id for sc in d.scenes} for s, d in splits.items()}
    assert sum(len(v) for v in scene_sets.values()) == 5
    assert not (scene_sets["train"] & scene_sets["val"]) and not (scene_sets["train"]
                                                                   & scene_sets["test"])
    ds = WhuOptSarDataset(tmp_path / "whu", "all", patch_size=32)
    assert len(ds) == 5 * 3 * 2  # x offsets 0/32/38, y offsets 0/18
    for i in (0, 4):  # windows (0, 0) and (32, 18) of the first scene
        s = ds[i]
        sc, x, y = ds.windows[i]
        scene = ds.scenes[sc]
        base = _coords(50, 70, int(scene.id[6]))[y:y + 32, x:x + 32]
        assert s["optical"].shape == (4, 32, 32) and s["sar"].shape == (1, 32, 32)
        np.testing.assert_array_equal(s["optical"][3].numpy(), base + 3)
        np.testing.assert_array_equal(s["sar"][0].numpy(), base)
        expected = decode_whu_label(labels[scene.id][y:y + 32, x:x + 32])
        np.testing.assert_array_equal(s["label"].numpy(), expected)
    # Every read was a patch-sized window, never a whole scene.
    assert seen and all(w is not None and w[2] <= 32 and w[3] <= 32 for w in seen)

    first = ds[0]["label"]
    assert first[0, 0] == 255 and first[0, 1] == 255 and first[0, 2] == 255
    assert set(torch.unique(first).tolist()) <= set(range(8)) | {255}
    np.testing.assert_array_equal(decode_whu_label(np.array([[0, 10, 40, 70]]), True),
                                  [[255, 1, 4, 7]])
    via_cfg = build_dataset({"dataset": "whu_opt_sar", "root": str(tmp_path / "whu"),
                             "patch_size": 32}, "all")
    assert len(via_cfg) == len(ds)
    with pytest.raises(FileNotFoundError):
        WhuOptSarDataset(tmp_path, "train")


def make_gid(root: Path, n: int = 2, h: int = 40, w: int = 40) -> list[str]:
    sub = root / "Large-scale Classification_5classes"
    names = []
    colours = [c.rgb for c in GID5_SPEC.classes] + [(0, 0, 0), (1, 2, 3)]
    for s in range(n):
        name = f"GF2_PMS1__L1A000056453{s}-MSS1"
        names.append(name)
        base = _coords(h, w, s)
        _tif(sub / "image_NirRGB" / f"{name}.tif", np.stack([base + 3, base, base + 1, base + 2]))
        idx = (np.arange(h * w).reshape(h, w) % len(colours))
        rgb = np.array(colours, np.uint8)[idx].transpose(2, 0, 1)
        _tif(sub / "label_5classes" / f"{name}_label.tif", rgb)
    return names


def test_gid_zero_sar_and_colours(tmp_path: Path) -> None:
    make_gid(tmp_path / "GID")
    with pytest.warns(UserWarning, match="all zeros"):
        ds = GidDataset(tmp_path / "GID", "all", num_classes=5, patch_size=32)
    assert len(ds) == 2 * 2 * 2 and ds.spec.extra.get("sar") == "zeros"
    s = ds[0]
    assert s["optical"].shape == (4, 32, 32) and float(s["sar"].abs().sum()) == 0.0
    np.testing.assert_array_equal(s["optical"][1].numpy(), _coords(40, 40, 0)[:32, :32])
    # Colour cycle: 5 classes, black (unlabelled) and an unknown colour -> ignore.
    np.testing.assert_array_equal(s["label"][0, :8].numpy(), [0, 1, 2, 3, 4, 255, 255, 0])


def test_gid_with_user_sar(tmp_path: Path) -> None:
    names = make_gid(tmp_path / "GID")
    sar_dir = tmp_path / "gid_sar"
    _tif(sar_dir / f"{names[0]}.tif", np.full((40, 40), 7, np.uint8))
    with pytest.raises(FileNotFoundError):
        GidDataset(tmp_path / "GID", "all", sar_root=sar_dir, sar_mode="error", patch_size=32)
    _tif(sar_dir / f"{names[1]}.tif", np.full((40, 40), 9, np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every scene has SAR: no warning
        ds = GidDataset(tmp_path / "GID" / "Large-scale Classification_5classes", "all",
                        sar_root=sar_dir, patch_size=32)
    assert float(ds[0]["sar"].mean()) == 7.0 and float(ds[len(ds) - 1]["sar"].mean()) == 9.0
    with pytest.raises(ValueError):
        GidDataset(tmp_path / "GID", "all", num_classes=7)


def make_paired(root: Path, names: list[str], h: int = 24, w: int = 24) -> None:
    for k, name in enumerate(names):
        _tif(root / "optical" / f"{name}.tif", np.full((3, h, w), k, np.uint16), gdal.GDT_UInt16)
        _tif(root / "sar" / f"{name}.tif", np.full((2, h, w), -k, np.float32), gdal.GDT_Float32)
        lab = np.zeros((h, w), np.uint8)
        lab[:, w // 2:] = 7
        lab[0, 0] = 99
        _tif(root / "label" / f"{name}.tif", lab)


def test_paired_folder(tmp_path: Path) -> None:
    names = [f"tile_{i:02d}" for i in range(6)]
    make_paired(tmp_path / "own", names)
    classes = [{"name": "land", "source_value": 0},
               {"name": "water", "colour": "#0000ff", "source_value": 7}]
    ds = PairedFolderDataset(tmp_path / "own", "all", classes=classes, patch_size=16,
                             label_nodata=[99])
    assert len(ds) == 6 * 2 * 2
    s = ds[0]
    assert s["optical"].shape == (3, 16, 16) and s["sar"].shape == (2, 16, 16)
    assert s["label"][0, 0] == 255 and s["label"][1, 0] == 0 and s["label"][1, 15] == 1
    spec = ds.spec.to_dict()
    assert [c["name"] for c in spec["classes"]] == ["land", "water"]
    assert spec["classes"][1]["colour"] == "#0000ff" and len(spec["sar_bands"]) == 2
    tr = PairedFolderDataset(tmp_path / "own", "train", classes=classes, val_fraction=0.34)
    va = PairedFolderDataset(tmp_path / "own", "val", classes=classes, val_fraction=0.34)
    assert len(tr.scenes) == 4 and len(va.scenes) == 2
    assert not {s.id for s in tr.scenes} & {s.id for s in va.scenes}
    # Pre-split folders are used as they are.
    make_paired(tmp_path / "split" / "train", names[:2])
    make_paired(tmp_path / "split" / "val", names[2:3])
    assert len(PairedFolderDataset(tmp_path / "split", "val", classes=classes).scenes) == 1
    # Optical and SAR on different grids are refused with an explanation.
    _tif(tmp_path / "own" / "sar" / "tile_00.tif", np.zeros((2, 10, 10), np.float32),
         gdal.GDT_Float32)
    with pytest.raises(ValueError, match="co-registered"):
        PairedFolderDataset(tmp_path / "own", "all", classes=classes)
