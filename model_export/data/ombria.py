"""OMBRIA (Sentinel-1 + Sentinel-2 flood mapping) reader.

Layout (geodrak/OMBRIA)::

    ombria/{train,test}/S1/S1_after_NNNN.png   8-bit grey, 256x256
    ombria/{train,test}/S2/S2_after_NNNN.png   8-bit true-colour RGB
    ombria/{train,test}/MASK/mask_NNNN.png     0 = not flooded, 255 = flooded
    ombria/{train,test}/S1_before/S1_before_NNNN.png, S2_before/S2_before_NNNN.png (unlabelled)

Splits: ``train`` and ``val`` are a deterministic partition of ``train/``: with
``val_scheme="random"`` ``val_fraction`` of the patches chosen with ``split_seed``; with
``val_scheme="grouped"`` fold ``fold`` of ``folds`` spatial folds (whole scenes or stretches of
them, see ``data/splits.py``), which is what measures generalisation to unseen places; with
``val_scheme="none"`` every patch of ``train/`` trains and ``val`` is empty. ``test`` is the
official ``test/`` folder, for reporting only. Samples are float32 in native 8-bit units (no
scaling) and an int64 label 0/1 (255 = ignore for any mask value other than 0/255). The
pre-event (permanent) water found by ``permanent_water.py`` outside the flood mask is, by
``permanent_water``: ``"keep"`` labelled as published (not flooded = 0), ``"ignore"`` left out of
the loss (255), ``"water"`` labelled water (1): the masks mark floods only, a river is water.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from model_export.data._io import make_sample, read_raster, resolve_root
from model_export.data.ombria_files import list_ombria
from model_export.data.spec import IGNORE_INDEX, OMBRIA_SPEC, DatasetSpec
from model_export.data.splits import train_or_val

SPLITS = ("train", "val", "test")
VAL_SCHEMES = ("random", "grouped", "none")
PERMANENT_WATER = ("keep", "ignore", "water")
# Mask value written over pre-event water: any value other than 0 / 255 reads as ignore.
_PERMANENT_MASK_VALUE = {"ignore": 1, "water": 255}


class OmbriaDataset(Dataset):
    """OMBRIA patches as ``{"optical": [3,H,W], "sar": [1,H,W], "label": [H,W], "id": str}``."""

    spec: DatasetSpec = OMBRIA_SPEC

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "train",
                 val_fraction: float = 0.1, split_seed: int = 42,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 max_samples: int | None = None, cache: bool = False,
                 val_scheme: str = "random", folds: int = 5, fold: int = 0,
                 permanent_water: str = "keep") -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if val_scheme not in VAL_SCHEMES:
            raise ValueError(f"val_scheme must be one of {VAL_SCHEMES}, got {val_scheme!r}")
        if permanent_water not in PERMANENT_WATER:
            raise ValueError(f"permanent_water must be one of {PERMANENT_WATER}, "
                             f"not {permanent_water!r}")
        self.root = resolve_root(root, "ombria")
        self.split = split
        self.transform = transform
        self.permanent_water = permanent_water
        items = list_ombria(self.root, "test" if split == "test" else "train")
        if split != "test":
            items = train_or_val(self.root, items, split, val_scheme, val_fraction, split_seed,
                                  folds, fold)
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
        _, s1, s2, mask_path = self.items[index]
        mask = read_raster(mask_path)[0]
        if self.permanent_water in _PERMANENT_MASK_VALUE:
            mask = mask.copy()
            mask[self.permanent_water_mask(index) & (mask == 0)] = _PERMANENT_MASK_VALUE[
                self.permanent_water]
        arrays = (read_raster(s2)[:3], read_raster(s1)[:1], mask)
        if self._cache is not None:
            self._cache[index] = arrays
        return arrays

    def before_paths(self, index: int) -> tuple[Path, Path]:
        """(S1_before, S2_before) of a patch: the same place before the event, unlabelled."""
        _, s1, s2, _ = self.items[index]
        i = self.items[index][0]
        return (s1.parent.parent / "S1_before" / f"S1_before_{i}.png",
                s2.parent.parent / "S2_before" / f"S2_before_{i}.png")

    def permanent_water_mask(self, index: int) -> np.ndarray:
        """Pre-event water outside the flood mask (bool [H, W]; see ``permanent_water.py``)."""
        from model_export.data.permanent_water import permanent_water

        _, s1, _, mask = self.items[index]
        s1b, s2b = self.before_paths(index)
        if not (s1b.is_file() and s2b.is_file()):
            raise FileNotFoundError(
                f"finding pre-event water needs the pre-event images {s1b.name} and "
                f"{s2b.name} next to S1/ and S2/ in {s1.parent.parent}")
        return permanent_water(read_raster(s1)[0], read_raster(s1b)[0], read_raster(s2b)[:3],
                               read_raster(mask)[0] == 255)

    def __getitem__(self, index: int) -> dict[str, Any]:
        optical, sar, mask = self.read_arrays(index)
        label = np.full(mask.shape, IGNORE_INDEX, dtype=np.int64)
        label[mask == 0] = 0
        label[mask == 255] = 1
        sample = make_sample(optical, sar, label, id=self.items[index][0])
        return self.transform(sample) if self.transform else sample
