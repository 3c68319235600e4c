"""Datasets for UPSeg: readers for real optical + SAR data, synthetic scenes, transforms, stats.

Every reader returns ``{"optical": float32 [Co,H,W], "sar": float32 [Cs,H,W], "label": int64 [H,W],
"id": str}`` in native units (before normalisation), with ignore index 255, and exposes a
:class:`~model_export.data.spec.DatasetSpec` as ``dataset.spec``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from model_export.data._io import default_data_root
from model_export.data.spec import DatasetSpec

DATASETS = ("ombria", "whu_opt_sar", "gid", "paired_folder", "synthetic")
_SUBDIRS = {"ombria": "ombria", "whu_opt_sar": "whu_opt_sar", "gid": "gid"}


def dataset_root(data_cfg: dict[str, Any]) -> Path | None:
    """``data.root`` if set, else ``<data.data_root or $UPSEG_DATA_ROOT or ../shared/data>/<name>``.
    """
    if data_cfg.get("root"):
        return Path(data_cfg["root"]).expanduser()
    name = data_cfg.get("dataset", "ombria")
    if name not in _SUBDIRS:
        return None
    base = Path(data_cfg["data_root"]).expanduser() if data_cfg.get("data_root") else (
        default_data_root())
    return base / _SUBDIRS[name]


def build_dataset(data_cfg: dict[str, Any], split: str,
                  transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Dataset:
    """A dataset from the ``data`` section of a training config (see ``configs/*.yaml``)."""
    name = data_cfg.get("dataset", "ombria")
    opts = dict(data_cfg.get("options") or {})
    max_samples = (data_cfg.get("max_samples") or {}).get(split)
    common = dict(split=split, transform=transform, max_samples=max_samples)
    root = dataset_root(data_cfg)
    split_kw = dict(val_fraction=float(data_cfg.get("val_fraction", 0.1)),
                    split_seed=int(data_cfg.get("split_seed", 42)))
    tile_kw = dict(patch_size=int(data_cfg.get("patch_size", 256)), stride=data_cfg.get("stride"))
    if name == "ombria":
        from model_export.data.ombria import OmbriaDataset
        return OmbriaDataset(root, cache=bool(data_cfg.get("cache", False)), **split_kw, **common,
                             **opts)
    if name == "whu_opt_sar":
        from model_export.data.whu_opt_sar import WhuOptSarDataset
        return WhuOptSarDataset(root, test_fraction=float(data_cfg.get("test_fraction", 0.2)),
                                **split_kw, **tile_kw, **common, **opts)
    if name == "gid":
        from model_export.data.gid import GidDataset
        return GidDataset(root, test_fraction=float(data_cfg.get("test_fraction", 0.2)),
                          **split_kw, **tile_kw, **common, **opts)
    if name == "paired_folder":
        from model_export.data.paired_folder import PairedFolderDataset
        if root is None:
            raise ValueError("paired_folder needs data.root")
        return PairedFolderDataset(root, test_fraction=float(data_cfg.get("test_fraction", 0.0)),
                                   **split_kw, **tile_kw, **common, **opts)
    if name == "synthetic":
        from model_export.data.synthetic import SyntheticDataset
        counts = opts.pop("num_samples", {"train": 16, "val": 4, "test": 4})
        n = counts.get(split, 4) if isinstance(counts, dict) else int(counts)
        if max_samples is not None:
            n = min(n, int(max_samples))
        return SyntheticDataset(num_samples=n, size=int(data_cfg.get("patch_size", 64)),
                                seed=int(data_cfg.get("split_seed", 0)), split=split,
                                transform=transform, **opts)
    raise ValueError(f"unknown dataset {name!r}; known: {DATASETS}")


def dataset_spec(dataset: Dataset) -> DatasetSpec:
    spec = getattr(dataset, "spec", None)
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"{type(dataset).__name__} has no DatasetSpec attribute 'spec'")
    return spec


__all__ = ["DATASETS", "DatasetSpec", "build_dataset", "dataset_root", "dataset_spec"]
