"""`docs/img/benchmark_scaling.png`: time and memory against scene size, and stage times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e2e = res["end_to_end"]
    keys = sorted(e2e, key=int)
    mpx = [e2e[k]["megapixels"] for k in keys]
    spm = [e2e[k]["seconds_per_mpx"] for k in keys]
    rss = [e2e[k]["peak_rss_mb"] for k in keys]
    stages = ("read", "warp", "normalise", "inference", "blend", "write")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    ax = axes[0]
    ax.plot(mpx, spm, "o-", label="end to end (qgis_process wall time)")
    ax.plot(mpx, [e2e[k]["algorithm_seconds_per_mpx"] for k in keys], "s--", color="C2",
            label="the algorithm alone (no QGIS start-up)")
    ax.axhline(1.0 / res["raw"]["mpx_per_s"], color="grey", ls="--",
               label="raw ONNX Runtime limit (tile pixels)")
    ax.set_xscale("log")
    ax.set_xlabel("scene size (megapixels, log)")
    ax.set_ylabel("seconds per megapixel")
    ax.set_ylim(0, max(spm + [1.0 / res["raw"]["mpx_per_s"]]) * 1.3)
    ax.set_title("Time per megapixel")
    ax.legend(fontsize=8)
    for x, y, k in zip(mpx, spm, keys, strict=True):
        ax.annotate(f"{k}x", (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax = axes[1]
    ax.plot(mpx, rss, "o-", color="C3")
    ax.set_xscale("log")
    ax.set_ylim(0, max(rss) * 1.3)
    ax.set_xlabel("scene size (megapixels, log)")
    ax.set_ylabel("peak RSS of the process tree (MB)")
    ax.set_title("Peak memory")
    for x, y, k in zip(mpx, rss, keys, strict=True):
        ax.annotate(f"{k}x: {y:.0f} MB", (x, y), textcoords="offset points", xytext=(4, 6),
                    fontsize=8)
    ax = axes[2]
    bottom = np.zeros(len(keys))
    for st in stages:
        vals = np.array([e2e[k]["timings"].get(st, 0.0) / e2e[k]["megapixels"] for k in keys])
        ax.bar([f"{k}x" for k in keys], vals, bottom=bottom, label=st)
        bottom += vals
    ax.set_ylabel("stage seconds per megapixel (busy time)")
    ax.set_title("Where the time goes (stages overlap)")
    ax.legend(fontsize=8)
    fig.suptitle("upseg:segment on SYNTHETIC WHU-OPT-SAR-size scenes, default model, CPU",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


