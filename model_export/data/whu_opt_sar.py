"""WHU-OPT-SAR reader, on the published layout of full scenes::

    root/optical/NH49E001013.tif   GF-1 optical, 4 bands R, G, B, NIR, 8-bit, 5556x3704, 5 m
    root/sar/NH49E001013.tif       GF-3 SAR, 1 band, 8-bit, same grid
    root/lbl/NH49E001013.tif       labels coded 0, 10, ..., 70

(``opt/`` and ``label/`` are accepted as folder names too.) Label codes map to class indices
``code // 10``: 0 background, 1 farmland, 2 city, 3 village, 4 water, 5 forest, 6 road, 7 others;
any other value becomes ignore (255). ``background_as_ignore=True`` maps code 0 to ignore instead
(the class list then keeps "background" so indices stay those of the paper).

Scenes are cut into ``patch_size`` windows read with GDAL (a scene is never loaded whole). By
default ``split`` partitions *scenes* deterministically (``split_seed``); ``test_list`` names a text
file of test scene ids (one per line, file names accepted, ``#`` comments), e.g. the official
80 train / 20 test list: those scenes are the test split and validation is drawn from the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from model_export.data._io import find_dir, list_rasters, lut_map, resolve_root
from model_export.data._scenes import TiledSceneDataset, make_scene, split_scenes
from model_export.data.spec import IGNORE_INDEX, WHU_OPT_SAR_SPEC, DatasetSpec

OPTICAL_DIRS = ("optical", "opt")
SAR_DIRS = ("sar",)
LABEL_DIRS = ("lbl", "label", "labels")
WHU_CODES = {code: code // 10 for code in range(0, 80, 10)}


def decode_whu_label(raw: np.ndarray, background_as_ignore: bool = False) -> np.ndarray:
    """``[1,h,w]`` or ``[h,w]`` codes 0/10/.../70 -> int64 class indices, others -> 255."""
    codes = raw[0] if raw.ndim == 3 else raw
    mapping = dict(WHU_CODES)
    if background_as_ignore:
        mapping.pop(0)
    return lut_map(codes, mapping, IGNORE_INDEX)


class WhuOptSarDataset(TiledSceneDataset):
    spec: DatasetSpec = WHU_OPT_SAR_SPEC

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "train",
                 patch_size: int = 256, stride: int | None = None, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, split_seed: int = 42,
                 background_as_ignore: bool = False, test_list: str | None = None,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 max_samples: int | None = None) -> None:
        self.root = resolve_root(root, "whu_opt_sar")
        opt_dir, sar_dir, lbl_dir = (find_dir(self.root, n) for n in (OPTICAL_DIRS, SAR_DIRS,
                                                                       LABEL_DIRS))
        if opt_dir is None or sar_dir is None or lbl_dir is None:
            raise FileNotFoundError(
                f"WHU-OPT-SAR layout not found under {self.root}: expected optical/, sar/, lbl/")
        opt, sar, lbl = list_rasters(opt_dir), list_rasters(sar_dir), list_rasters(lbl_dir)
        ids = sorted(set(opt) & set(sar) & set(lbl))
        if not ids:
            raise FileNotFoundError(f"no scene in all of optical/, sar/, lbl/ in {self.root}")
        scenes = [make_scene(i, opt[i], sar[i], lbl[i]) for i in ids]
        self.split = split
        chosen = (split_by_list(scenes, split, read_scene_list(test_list, ids), val_fraction,
                                split_seed) if test_list
                  else split_scenes(scenes, split, val_fraction, test_fraction, split_seed))
        super().__init__(
            chosen,
            patch_size=patch_size, stride=stride,
            label_decoder=partial(decode_whu_label, background_as_ignore=background_as_ignore),
            sar_channels=1, transform=transform, optical_bands=[1, 2, 3, 4], sar_bands=[1],
            max_samples=max_samples)


def read_scene_list(path: str | os.PathLike[str], known: list[str]) -> set[str]:
    """Scene ids named in a list file; an id not among the scenes found is an error."""
    names = set()
    for line in open(path, encoding="utf-8").read().splitlines():  # noqa: SIM115
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(os.path.splitext(os.path.basename(line))[0])
    unknown = sorted(names - set(known))
    if unknown:
        raise FileNotFoundError(f"{path}: scenes {unknown[:5]} are not in optical/, sar/ and lbl/")
    if not names:
        raise ValueError(f"{path}: no scene ids in the test list")
    return names


def split_by_list(scenes: list[Any], split: str, test_ids: set[str], val_fraction: float,
                  seed: int) -> list[Any]:
    """Test = the listed scenes; train/val = the others, split by scene as usual."""
    rest = [s for s in scenes if s.id not in test_ids]
    if split == "test":
        return [s for s in scenes if s.id in test_ids]
    return split_scenes(rest, split, val_fraction, 0.0, seed) if split != "all" else scenes
