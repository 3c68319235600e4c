"""The default model against the previous one, and the cost of test-time augmentation.

    python -m bench.model_compare   # -> bench/model_compare.json and the marked section of
                                    #    docs/benchmark.md (part of `make bench`)

For the embedded default model and the version before it in git (`git show` of the newest
committed model whose metadata names another version): file size, the raw ONNX Runtime
throughput on in-memory tiles, and `upseg_qgis.core.run.pipeline.segment` (what `upseg:segment`
runs) on the real 512 x 512 Sentinel-1 + Sentinel-2 chip of Sen1Floods11 with test-time
augmentation off and on: wall seconds and CPU seconds (all threads of this process) per
megapixel, best of `--repeats`. The machine is shared: the load is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL = ROOT / "upseg_qgis" / "models" / "upseg_default.onnx"
RESULTS = ROOT / "bench" / "model_compare.json"
BENCH_DOC = ROOT / "docs" / "benchmark.md"


def _model_version(path: Path) -> str | None:
    from upseg_qgis.core.contract.onnx_props import read_model_metadata

    try:
        return read_model_metadata(path).version
    except Exception:  # an old file without readable metadata: its version is unknown
        return None


def previous_model(dest: Path) -> tuple[Path, str] | None:
    """The newest committed default model of another version than the current one (the last
    release's model, not a re-training of this version); None outside a git checkout."""
    rel = MODEL.relative_to(ROOT).as_posix()
    current = _model_version(MODEL)
    try:
        revs = subprocess.run(["git", "log", "--format=%h", "--", rel], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.split()
        for rev in revs[1:]:
            dest.write_bytes(subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=ROOT,
                                            capture_output=True, check=True).stdout)
            if _model_version(dest) != current:
                return dest, rev
    except (OSError, subprocess.CalledProcessError):
        return None
    return None


def raw_mpx_per_s(model: Path, seconds: float = 4.0) -> float:
    """Tile megapixels per second, one batch of 2 tiles of 256 px at a time, on in-memory data."""
    import numpy as np

    from upseg_qgis.core.engine.session import load_model

    lm = load_model(str(model), "cpu")
    rng = np.random.default_rng(0)
    opt = rng.standard_normal((2, lm.metadata.optical.band_count, 256, 256), dtype=np.float32)
    sar = rng.standard_normal((2, lm.metadata.sar.band_count, 256, 256), dtype=np.float32)
    lm.run(opt, sar)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        lm.run(opt, sar)
        n += 1
    return n * 2 * 256 * 256 / 1e6 / (time.perf_counter() - t0)


def segment_cost(model: Path, tta: str, work: Path, repeats: int) -> dict[str, Any]:
    from model_export.data._io import default_data_root
    from upseg_qgis.core.run.options import RuntimeOptions
    from upseg_qgis.core.run.pipeline import segment

    chip = default_data_root() / "sen1floods11_sample"
    best: dict[str, Any] = {}
    for i in range(repeats):
        cpu0, t0 = time.process_time(), time.perf_counter()
        res = segment(str(chip / "Spain_7370579_S2Hand.tif"),
                      str(chip / "Spain_7370579_S1Hand.tif"), str(work / f"m{i}{tta}.tif"),
                      model=str(model), runtime=RuntimeOptions(device="cpu", tta=tta))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        mpx = res.width * res.height / 1e6
        if not best or cpu / mpx < best["cpu_s_per_mpx"]:
            best = {"wall_s_per_mpx": wall / mpx, "cpu_s_per_mpx": cpu / mpx, "megapixels": mpx}
    return best


def measure(label: str, model: Path, work: Path, repeats: int) -> dict[str, Any]:
    from upseg_qgis.core.contract.onnx_props import read_model_metadata

    meta = read_model_metadata(model)
    row = {"label": label, "name": meta.name, "version": meta.version,
           "size_mb": model.stat().st_size / 1e6, "raw_mpx_per_s": raw_mpx_per_s(model)}
    for tta in ("none", "flips"):
        row[f"tta_{tta}"] = segment_cost(model, tta, work, repeats)
        print(f"[compare] {label} {meta.version} TTA {tta}: "
              f"{row[f'tta_{tta}']['cpu_s_per_mpx']:.2f} CPU s/Mpx", flush=True)
    return row


def table(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        "## The default model against the previous one; test-time augmentation", "",
        "Produced by `python -m bench.model_compare` (part of `make bench`); do not edit by hand. "
        f"{info['date']}, {info['cpus']} cores, shared (load average {info['load_before']} "
        f"before, {info['load_after']} after). Raw: ONNX Runtime on in-memory 256 px tiles, "
        "batch 2, default threads. Chip: `segment()` on the real 512 x 512 Sen1Floods11 chip "
        f"(read, warp, normalise, infer, blend, write), best of {info['repeats']}; CPU s: all "
        "threads of the process.", "",
        "| model | version | file MB | raw Mpx/s | chip CPU s/Mpx | chip wall s/Mpx | "
        "with TTA: CPU s/Mpx | with TTA: wall s/Mpx |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        a, b = r["tta_none"], r["tta_flips"]
        lines.append(f"| {r['label']} | {r['version']} | {r['size_mb']:.2f} | "
                     f"{r['raw_mpx_per_s']:.2f} | {a['cpu_s_per_mpx']:.2f} | "
                     f"{a['wall_s_per_mpx']:.2f} | {b['cpu_s_per_mpx']:.2f} | "
                     f"{b['wall_s_per_mpx']:.2f} |")
    if len(rows) == 2:
        ratio = rows[1]["tta_none"]["cpu_s_per_mpx"] / rows[0]["tta_none"]["cpu_s_per_mpx"]
        lines += ["", f"CPU time per megapixel, current / previous model: {ratio:.2f} "
                  "(budget: at most 2)."]
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.model_compare", description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--doc-only", action="store_true", help="rewrite the page from the results")
    args = p.parse_args(argv)
    if not args.doc_only:
        info = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
                "repeats": args.repeats, "load_before": round(os.getloadavg()[0], 2)}
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            prev = previous_model(Path(tmp) / "previous.onnx")
            if prev:
                rows.append(measure(f"previous (git {prev[1]})", prev[0], Path(tmp),
                                    args.repeats))
            rows.append(measure("current", MODEL, Path(tmp), args.repeats))
        info["load_after"] = round(os.getloadavg()[0], 2)
        RESULTS.write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
    saved = json.loads(RESULTS.read_text())
    text = table(saved["rows"], saved["info"])
    from bench.sections import replace_section

    replace_section(BENCH_DOC, "model-compare", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
