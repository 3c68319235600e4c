"""What the training inputs looked like, for the metadata's ``inputs.*.statistics``.

Per band and modality, in native units: the 1st and 99th percentile over the training patches
of each patch's median and of its interquartile spread. Per-patch values rather than pooled
pixels, because the plugin compares a whole layer (one median, one spread per band) with them.
Computed from the split the checkpoint was trained on, without augmentation.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def patch_statistics(samples: Any, modalities: tuple[str, ...] = ("optical", "sar"),
                     ) -> dict[str, dict[str, Any]]:
    """``{modality: {patches, median_low, median_high, spread_low, spread_high}}``."""
    per: dict[str, dict[str, list[np.ndarray]]] = {m: {"med": [], "iqr": []} for m in modalities}
    n = 0
    for s in samples:
        n += 1
        for m in modalities:
            x = np.asarray(s[m], dtype=np.float64).reshape(np.asarray(s[m]).shape[0], -1)
            q25, q50, q75 = np.nanpercentile(x, [25, 50, 75], axis=1)
            per[m]["med"].append(q50)
            per[m]["iqr"].append(q75 - q25)
    if n == 0:
        raise ValueError("no training samples to compute input statistics from")
    out = {}
    for m, d in per.items():
        med, iqr = np.stack(d["med"]), np.stack(d["iqr"])
        out[m] = {"patches": n,
                  "median_low": np.percentile(med, 1, axis=0).tolist(),
                  "median_high": np.percentile(med, 99, axis=0).tolist(),
                  "spread_low": np.percentile(iqr, 1, axis=0).tolist(),
                  "spread_high": np.percentile(iqr, 99, axis=0).tolist()}
    return out


def checkpoint_input_statistics(ckpt: dict[str, Any], data_root: str | None = None,
                                ) -> dict[str, dict[str, Any]]:
    """:func:`patch_statistics` of the training split described by a checkpoint's config."""
    from model_export.data import build_dataset

    data_cfg = dict((ckpt.get("config") or {}).get("data") or {"dataset": ckpt["dataset"]["name"]})
    data_cfg.pop("max_samples", None)
    # Labels are not needed: skip the pre-event reads of permanent_water="ignore".
    options = dict(data_cfg.get("options") or {})
    if "permanent_water" in options:
        options["permanent_water"] = "keep"
    data_cfg["options"] = options
    if data_root:
        data_cfg["data_root"] = data_root
        data_cfg.pop("root", None)
    ds = build_dataset(data_cfg, "train")
    return patch_statistics(ds[i] for i in range(len(ds)))
