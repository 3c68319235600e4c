"""Patches cut from large co-registered scenes with windowed GDAL reads.

WHU-OPT-SAR scenes are 5556x3704, GID scenes 7200x6800: a scene is never read whole, each sample
reads only its window from the optical, SAR and label rasters (GDAL handles are opened lazily per
process, so the dataset is safe to use with DataLoader workers).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from osgeo import gdal
from torch.utils.data import Dataset

from model_export.data._io import make_sample, read_window
from model_export.data.spec import IGNORE_INDEX
from model_export.data.splits import split_indices

LabelDecoder = Callable[[np.ndarray], np.ndarray]  # raw [C,h,w] -> int64 [h,w]


@dataclass(frozen=True)
class Scene:
    id: str
    optical: Path
    sar: Path | None  # None: no SAR for this scene (filled with zeros, see TiledSceneDataset)
    label: Path
    width: int
    height: int


def tile_offsets(size: int, patch: int, stride: int) -> list[int]:
    """Window starts covering ``[0, size)``; the last window is shifted back to end at ``size``."""
    if size <= patch:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return starts


def make_scene(scene_id: str, optical: Path, sar: Path | None, label: Path) -> Scene:
    """Check that the three rasters share one pixel grid (size) and describe the scene."""
    sizes = {}
    for kind, path in (("optical", optical), ("sar", sar), ("label", label)):
        if path is not None:
            ds = gdal.Open(str(path), gdal.GA_ReadOnly)
            sizes[kind] = (ds.RasterXSize, ds.RasterYSize)
    if len(set(sizes.values())) != 1:
        raise ValueError(
            f"scene {scene_id}: optical, SAR and label must be co-registered on one pixel grid, "
            f"got sizes {sizes}; resample first (e.g. gdalwarp -tr/-te to the optical grid)")
    w, h = sizes["optical"]
    return Scene(scene_id, optical, sar, label, w, h)


def split_scenes(scenes: Sequence[Scene], split: str, val_fraction: float, test_fraction: float,
                 seed: int) -> list[Scene]:
    """Deterministic split by *scene* (neighbouring patches of one scene never straddle splits)."""
    if split == "all":
        return list(scenes)
    n = len(scenes)
    rest, test = split_indices(n, test_fraction, seed) if test_fraction > 0 else (list(range(n)),
                                                                                   [])
    if split == "test":
        return [scenes[i] for i in test]
    sub_train, sub_val = split_indices(len(rest), val_fraction, seed + 1)
    chosen = sub_train if split == "train" else sub_val if split == "val" else None
    if chosen is None:
        raise ValueError(f"split must be train, val, test or all, got {split!r}")
    return [scenes[rest[i]] for i in chosen]


class TiledSceneDataset(Dataset):
    """Fixed grid of ``patch_size`` windows over each scene (``stride`` apart)."""

    def __init__(self, scenes: Sequence[Scene], patch_size: int, stride: int | None,
                 label_decoder: LabelDecoder, sar_channels: int,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 optical_bands: list[int] | None = None, sar_bands: list[int] | None = None,
                 ignore_index: int = IGNORE_INDEX, max_samples: int | None = None) -> None:
        self.scenes = list(scenes)
        self.patch_size = int(patch_size)
        self.stride = int(stride or patch_size)
        self.label_decoder = label_decoder
        self.sar_channels = sar_channels
        self.transform = transform
        self.optical_bands = optical_bands
        self.sar_bands = sar_bands
        self.ignore_index = ignore_index
        self.windows: list[tuple[int, int, int]] = [
            (si, x, y)
            for si, s in enumerate(self.scenes)
            for y in tile_offsets(s.height, self.patch_size, self.stride)
            for x in tile_offsets(s.width, self.patch_size, self.stride)
        ]
        if max_samples is not None:
            self.windows = self.windows[:max_samples]
        self._handles: dict[str, gdal.Dataset] = {}
        if any(s.sar is None for s in self.scenes):
            warnings.warn("some scenes have no SAR raster: their SAR input is filled with zeros",
                          UserWarning, stacklevel=2)

    # GDAL handles cannot be pickled into DataLoader workers: each process reopens its own.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def _open(self, path: Path) -> gdal.Dataset:
        key = str(path)
        if key not in self._handles:
            self._handles[key] = gdal.Open(key, gdal.GA_ReadOnly)
        return self._handles[key]

    def __len__(self) -> int:
        return len(self.windows)

    def _read(self, path: Path, x: int, y: int, w: int, h: int,
              bands: list[int] | None) -> np.ndarray:
        return read_window(self._open(path), (x, y, w, h), bands)

    def __getitem__(self, index: int) -> dict[str, Any]:
        si, x, y = self.windows[index]
        s = self.scenes[si]
        w, h = min(self.patch_size, s.width - x), min(self.patch_size, s.height - y)
        optical = self._read(s.optical, x, y, w, h, self.optical_bands).astype(np.float32)
        if s.sar is not None:
            sar = self._read(s.sar, x, y, w, h, self.sar_bands).astype(np.float32)
        else:
            sar = np.zeros((self.sar_channels, h, w), np.float32)
        label = self.label_decoder(self._read(s.label, x, y, w, h, None))
        if (h, w) != (self.patch_size, self.patch_size):  # scene smaller than a patch: pad
            p = self.patch_size
            optical = np.pad(optical, ((0, 0), (0, p - h), (0, p - w)))
            sar = np.pad(sar, ((0, 0), (0, p - h), (0, p - w)))
            label = np.pad(label, ((0, p - h), (0, p - w)), constant_values=self.ignore_index)
        sample = make_sample(optical, sar, label, id=f"{s.id}_{x}_{y}")
        return self.transform(sample) if self.transform else sample
