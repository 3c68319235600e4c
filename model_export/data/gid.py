"""GID (Gaofen Image Dataset) reader, on its published layout::

    root/Large-scale Classification_5classes/image_NirRGB/GF2_PMS1__L1A0000564539-MSS1.tif
    root/Large-scale Classification_5classes/label_5classes/GF2_PMS1__L1A0000564539-MSS1_label.tif
    root/Fine Land-cover Classification_15classes/{image_NirRGB,label_15classes}/...

``root`` may be the GID folder or the 5/15-class folder itself. Optical: the 4-band NirRGB scenes
(bands NIR, R, G, B, 8-bit, 7200x6800, about 4 m). Labels are RGB colour-coded; each known colour
maps to its class index, black (unlabelled) and unknown colours to ignore (255).

GID has no SAR. ``sar_root`` (a folder of SAR rasters co-registered with the optical scenes, named
like them, e.g. ``GF2_PMS1__L1A0000564539-MSS1.tif``) supplies it; without it the SAR input is a
documented all-zero band and a ``UserWarning`` is raised (``sar_mode="error"`` refuses instead).
A model trained on zero SAR is an optical-only model: do not compare it with optical + SAR runs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from model_export.data._io import find_dir, list_rasters, resolve_root
from model_export.data._scenes import TiledSceneDataset, make_scene, split_scenes
from model_export.data.spec import GID5_SPEC, GID15_SPEC, IGNORE_INDEX, DatasetSpec

SUBSETS = {5: "Large-scale Classification_5classes", 15: "Fine Land-cover Classification_15classes"}


def colour_lut(spec: DatasetSpec) -> dict[int, int]:
    """Packed ``r<<16 | g<<8 | b`` -> class index."""
    return {(r << 16) | (g << 8) | b: c.value for c in spec.classes for r, g, b in [c.rgb]}


def decode_colour_label(raw: np.ndarray, lut: dict[int, int],
                        ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``[3,h,w]`` RGB label -> int64 indices; colours not in ``lut`` -> ``ignore_index``."""
    if raw.shape[0] < 3:
        raise ValueError(f"GID labels are RGB colour rasters, got {raw.shape[0]} band(s)")
    packed = (raw[0].astype(np.int64) << 16) | (raw[1].astype(np.int64) << 8) | raw[2]
    out = np.full(packed.shape, ignore_index, dtype=np.int64)
    for key, idx in lut.items():
        out[packed == key] = idx
    return out


def _subset_dir(root: Path, num_classes: int) -> Path:
    label_dir = f"label_{num_classes}classes"
    if find_dir(root, (label_dir,)) is not None:
        return root
    for name in (SUBSETS[num_classes], SUBSETS[num_classes].replace(" ", "_")):
        cand = find_dir(root, (name,))
        if cand is not None:
            return cand
    raise FileNotFoundError(f"GID {num_classes}-class layout not found under {root}")


class GidDataset(TiledSceneDataset):
    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "train",
                 num_classes: int = 5, sar_root: str | os.PathLike[str] | None = None,
                 sar_mode: str = "zeros", patch_size: int = 256, stride: int | None = None,
                 val_fraction: float = 0.1, test_fraction: float = 0.2, split_seed: int = 42,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 max_samples: int | None = None) -> None:
        if num_classes not in SUBSETS:
            raise ValueError(f"GID has 5 or 15 classes, got {num_classes}")
        if sar_mode not in {"zeros", "error"}:
            raise ValueError(f"sar_mode must be 'zeros' or 'error', got {sar_mode!r}")
        self.spec = GID5_SPEC if num_classes == 5 else GID15_SPEC
        self.root = resolve_root(root, "gid")
        base = _subset_dir(self.root, num_classes)
        img_dir = find_dir(base, ("image_NirRGB",))
        lbl_dir = find_dir(base, (f"label_{num_classes}classes",))
        if img_dir is None or lbl_dir is None:
            raise FileNotFoundError(f"expected image_NirRGB/ and label_{num_classes}classes/ "
                                    f"in {base}")
        images = list_rasters(img_dir)
        labels = {k.removesuffix("_label"): v for k, v in list_rasters(lbl_dir).items()}
        sars = list_rasters(Path(sar_root)) if sar_root else {}
        ids = sorted(set(images) & set(labels))
        if not ids:
            raise FileNotFoundError(f"no GID scene with both image and label in {base}")
        missing = [i for i in ids if i not in sars]
        if missing and (sar_root or sar_mode == "error"):
            msg = f"{len(missing)} GID scene(s) without SAR (e.g. {missing[0]})"
            if sar_mode == "error":
                raise FileNotFoundError(msg + f" in {sar_root}")
            warnings.warn(msg + ": zero SAR used for them", UserWarning, stacklevel=2)
        if not sar_root:
            warnings.warn("GID has no SAR and no sar_root was given: the SAR input is all zeros, "
                          "so the model is effectively optical-only", UserWarning, stacklevel=2)
            self.spec = self.spec.replace(extra={**self.spec.extra, "sar": "zeros"})
        scenes = [make_scene(i, images[i], sars.get(i), labels[i]) for i in ids]
        self.split = split
        with warnings.catch_warnings():  # already warned above, once, with the reason
            warnings.simplefilter("ignore", UserWarning)
            super().__init__(
                split_scenes(scenes, split, val_fraction, test_fraction, split_seed),
                patch_size=patch_size, stride=stride,
                label_decoder=partial(decode_colour_label, lut=colour_lut(self.spec)),
                sar_channels=1, transform=transform, optical_bands=[1, 2, 3, 4], sar_bands=[1],
                max_samples=max_samples)
