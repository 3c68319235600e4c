"""The machine, its other load (it may be shared) and the git revision being measured."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.config import ROOT


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def other_cpu_load(seconds: float = 2.0) -> dict[str, Any]:
    """CPU used by processes other than this one over `seconds` (the machine may be shared)."""
    import psutil

    me = os.getpid()
    procs = [p for p in psutil.process_iter(["pid", "cmdline"]) if p.pid != me]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
    time.sleep(seconds)
    busy = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= 5.0:
            cmd = " ".join(p.info.get("cmdline") or [])[:100]
            busy.append({"cpu_percent": round(pct, 1), "command": cmd})
    busy.sort(key=lambda b: -b["cpu_percent"])
    return {
        "other_processes_cpu_percent": round(sum(b["cpu_percent"] for b in busy), 1),
        "busy_processes": busy[:5],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def machine_info() -> dict[str, Any]:
    import onnxruntime
    import psutil
    from osgeo import gdal

    qgis = "unknown"
    try:
        out = subprocess.run(
            ["/usr/bin/qgis_process.bin", "--version"], capture_output=True, text=True,
            timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        ).stdout
        m = re.search(r"QGIS\s+([\d.]+)", out)
        qgis = m.group(1) if m else out.strip()[:60]
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu": _cpu_model(),
        "logical_cpus": psutil.cpu_count(logical=True),
        "physical_cpus": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "qgis": qgis,
        "gdal": gdal.__version__,
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_providers": onnxruntime.get_available_providers(),
        "gdal_cachemax_mb": round(gdal.GetCacheMax() / 2**20),
    }


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    # Tracked files only: the results this run writes are not "uncommitted code".
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "upseg_qgis", "bench",
                "scripts")
    return {"commit": git("rev-parse", "HEAD"), "describe": git("log", "-1", "--format=%h %s"),
            "uncommitted_changes_in_measured_code": bool(dirty)}


