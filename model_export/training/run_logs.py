"""A training run's logs: log.csv and log.json (one row per epoch) and curves.png."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

LOG_FIELDS = ("epoch", "lr", "train_loss", "val_loss", "val_oa", "val_mpa", "val_miou",
              "val_fwiou", "val_kappa", "val_select", "train_images_per_s", "epoch_seconds")


def write_logs(out_dir: Path, history: list[dict[str, Any]], cfg: dict[str, Any]) -> None:
    with (out_dir / "log.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*LOG_FIELDS, *_per_class_fields(history)],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(history)
    from upseg_qgis.core.accuracy.metrics import jsonable

    # Strict JSON (NaN -> null) so any tool can read the log.
    (out_dir / "log.json").write_text(json.dumps(jsonable({"config": cfg, "history": history}),
                                                 indent=2))
    plot_curves(history, out_dir / "curves.png", title=str(cfg.get("experiment", "")))


def _per_class_fields(history: list[dict[str, Any]]) -> list[str]:
    return [k for k in (history[-1] if history else {}) if k.startswith("val_iou_")]


def plot_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a.plot(ep, [h["val_loss"] for h in history], "o-", label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.legend(), a.grid(alpha=0.3)
    for key in ("val_miou", "val_mpa", "val_oa", *_per_class_fields(history)):
        b.plot(ep, [h.get(key) if h.get(key) is not None else np.nan for h in history], "o-",
               label=key.removeprefix("val_"))
    b.set_xlabel("epoch"), b.set_ylabel("validation"), b.legend(fontsize=8), b.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
