"""Users' own data: co-registered optical, SAR and label rasters with matching file names::

    root/optical/tile_001.tif    any band count, any dtype (kept in native units)
    root/sar/tile_001.tif        SAR on the same pixel grid (resample with gdalwarp beforehand)
    root/label/tile_001.tif      integer class codes

Optionally split in advance: ``root/train/{optical,sar,label}``, ``root/val/...``,
``root/test/...``; otherwise the files are split deterministically (``val_fraction``,
``test_fraction``, ``split_seed``). Files are matched by stem, so ``a.tif`` and ``a.png`` pair
up. Rasters larger than ``patch_size`` are tiled with windowed reads.

Classes: ``classes`` is a list of names or of ``{"name", "colour", "source_value"}`` dicts; class
``i`` is read from label value ``source_value`` (default ``i``). Any other label value, and
``label_nodata`` values, become ignore (255).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from osgeo import gdal

from model_export.data._io import find_dir, list_rasters, lut_map
from model_export.data._scenes import TiledSceneDataset, make_scene, split_scenes
from model_export.data.spec import IGNORE_INDEX, BandSpec, ClassSpec, DatasetSpec, default_colour


def _decode(raw: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    return lut_map(raw[0], mapping, IGNORE_INDEX)


def _band_specs(path: Path, prefix: str) -> list[BandSpec]:
    ds = gdal.Open(str(path), gdal.GA_ReadOnly)
    out = []
    for i in range(1, ds.RasterCount + 1):
        desc = ds.GetRasterBand(i).GetDescription() or f"{prefix} band {i}"
        out.append(BandSpec(f"{prefix}{i}", desc, (desc, f"{prefix}{i}", f"B{i}")))
    return out


def build_classes(classes: Sequence[str | dict[str, Any]]) -> tuple[list[ClassSpec],
                                                                     dict[int, int]]:
    """Class specs plus the ``source label value -> class index`` mapping."""
    specs, mapping = [], {}
    for i, c in enumerate(classes):
        d = {"name": c} if isinstance(c, str) else dict(c)
        specs.append(ClassSpec(i, d["name"], d.get("colour", default_colour(i))))
        mapping[int(d.get("source_value", i))] = i
    return specs, mapping


class PairedFolderDataset(TiledSceneDataset):
    def __init__(self, root: str | os.PathLike[str], split: str = "train",
                 classes: Sequence[str | dict[str, Any]] = ("background", "foreground"),
                 patch_size: int = 256, stride: int | None = None,
                 label_nodata: Sequence[int] = (), name: str = "paired_folder",
                 optical_units: str = "unknown", sar_units: str = "unknown",
                 optical_range: tuple[float, float] = (0.0, 255.0),
                 sar_range: tuple[float, float] = (0.0, 255.0), gsd_m: float | None = None,
                 val_fraction: float = 0.1, test_fraction: float = 0.0, split_seed: int = 42,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 max_samples: int | None = None) -> None:
        self.root = Path(root)
        pre_split = find_dir(self.root, (split,)) if split != "all" else None
        base = pre_split or self.root
        dirs = [find_dir(base, names) for names in (("optical", "opt"), ("sar",),
                                                     ("label", "labels", "lbl"))]
        if any(d is None for d in dirs):
            raise FileNotFoundError(f"expected optical/, sar/ and label/ folders in {base}")
        opt, sar, lbl = (list_rasters(d) for d in dirs)  # type: ignore[arg-type]
        ids = sorted(set(opt) & set(sar) & set(lbl))
        if not ids:
            raise FileNotFoundError(f"no file name present in all of optical/, sar/, label/ "
                                    f"in {base}")
        scenes = [make_scene(i, opt[i], sar[i], lbl[i]) for i in ids]
        if pre_split is None:
            scenes = split_scenes(scenes, split, val_fraction, test_fraction, split_seed)
        class_specs, mapping = build_classes(classes)
        for v in label_nodata:
            mapping.pop(int(v), None)
        first = scenes[0] if scenes else make_scene(ids[0], opt[ids[0]], sar[ids[0]],
                                                    lbl[ids[0]])
        optical_bands, sar_bands = _band_specs(first.optical, "opt"), _band_specs(sar[first.id],
                                                                                    "sar")
        self.spec = DatasetSpec(
            name=name, description=f"paired optical/SAR/label folders at {self.root}",
            classes=class_specs, optical_bands=optical_bands, sar_bands=sar_bands,
            optical_units=optical_units, sar_units=sar_units, optical_range=optical_range,
            sar_range=sar_range, gsd_m=gsd_m)
        self.split = split
        super().__init__(scenes, patch_size=patch_size, stride=stride,
                         label_decoder=partial(_decode, mapping=mapping),
                         sar_channels=len(sar_bands), transform=transform,
                         max_samples=max_samples)
