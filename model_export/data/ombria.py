"""OMBRIA (Sentinel-1 + Sentinel-2 flood mapping) reader.

Layout (geodrak/OMBRIA)::

    ombria/{train,test}/S1/S1_after_NNNN.png   8-bit grey, 256x256
    ombria/{train,test}/S2/S2_after_NNNN.png   8-bit true-colour RGB
    ombria/{train,test}/MASK/mask_NNNN.png     0 = not flooded, 255 = flooded

Splits: ``train`` and ``val`` are a deterministic partition of ``train/`` (``val_fraction`` of the
patches, chosen with ``split_seed``); ``test`` is the official ``test/`` folder, for reporting only.
Samples are float32 in native 8-bit units (no scaling) and an int64 label 0/1 (255 = ignore for any
mask value other than 0/255).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from model_export.data._io import make_sample, read_raster, resolve_root, split_indices
from model_export.data.spec import IGNORE_INDEX, OMBRIA_SPEC, DatasetSpec

_ID = re.compile(r"(\d+)")
SPLITS = ("train", "val", "test")


def _ids(folder: Path, prefix: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if folder.is_dir():
        for p in folder.iterdir():
            if p.suffix.lower() == ".png" and p.name.startswith(prefix):
                m = _ID.search(p.stem[len(prefix):])
                if m:
                    out[m.group(1)] = p
    return out


def list_ombria(root: Path, folder: str) -> list[tuple[str, Path, Path, Path]]:
    """Sorted ``(id, s1, s2, mask)`` for the patches present in all three sub-folders."""
    base = root / folder
    s1, s2, mask = _ids(base / "S1", "S1_after_"), _ids(base / "S2", "S2_after_"), _ids(
        base / "MASK", "mask_")
    common = sorted(set(s1) & set(s2) & set(mask))
    if not common:
        raise FileNotFoundError(f"no OMBRIA patches (S1/S2/MASK with matching ids) in {base}")
    return [(i, s1[i], s2[i], mask[i]) for i in common]


class OmbriaDataset(Dataset):
    """OMBRIA patches as ``{"optical": [3,H,W], "sar": [1,H,W], "label": [H,W], "id": str}``."""

    spec: DatasetSpec = OMBRIA_SPEC

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "train",
                 val_fraction: float = 0.1, split_seed: int = 42,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 max_samples: int | None = None, cache: bool = False) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.root = resolve_root(root, "ombria")
        self.split = split
        self.transform = transform
        items = list_ombria(self.root, "test" if split == "test" else "train")
        if split != "test":
            train_idx, val_idx = split_indices(len(items), val_fraction, split_seed)
            items = [items[i] for i in (train_idx if split == "train" else val_idx)]
        if max_samples is not None:
            items = items[:max_samples]
        self.items = items
        # Optional in-memory uint8 cache (about 330 kB per patch): PNG decoding dominates epochs.
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = (
            {} if cache else None)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[str]:
        return [i[0] for i in self.items]

    def read_arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw ``(optical uint8 [3,H,W], sar uint8 [1,H,W], mask uint8 [H,W])``."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        _, s1, s2, mask = self.items[index]
        arrays = (read_raster(s2)[:3], read_raster(s1)[:1], read_raster(mask)[0])
        if self._cache is not None:
            self._cache[index] = arrays
        return arrays

    def __getitem__(self, index: int) -> dict[str, Any]:
        optical, sar, mask = self.read_arrays(index)
        label = np.full(mask.shape, IGNORE_INDEX, dtype=np.int64)
        label[mask == 0] = 0
        label[mask == 255] = 1
        sample = make_sample(optical, sar, label, id=self.items[index][0])
        return self.transform(sample) if self.transform else sample
