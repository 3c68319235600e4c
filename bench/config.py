"""Where `make bench` reads and writes, what it measures, and its targets."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BASE_W, BASE_H = 5556, 3704  # WHU-OPT-SAR optical scene
SCALES = (1, 4, 16)
QGIS_PROCESS = ROOT / "scripts" / "qgis-process"
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "benchmark.md"
PLOT = ROOT / "docs" / "img" / "benchmark_scaling.png"
SCENES = ROOT / "out" / "bench" / "scenes"
WORK = ROOT / "out" / "bench" / "runs"
# Hand-written analysis appended to the generated page (kept in the repository next to this).
NOTES_FILE = Path(__file__).with_name("notes.md")

TARGET_RATIO = 0.9
DISTURBED = 0.1  # share of the machine's CPU time used by other processes during a run
TARGET_MEMORY = 1.5
TARGET_TIME = 1.2


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)
