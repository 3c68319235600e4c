"""One segmentation end to end: through the core in a fresh process (the sweeps), or through
`qgis_process run upseg:segment` (the scales), with the algorithm's own log parsed."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from bench.config import QGIS_PROCESS, ROOT
from bench.watch import run_watched


def segment_once(args: argparse.Namespace) -> None:
    """Child process of the sweep: one `segment()` call, its timing record as JSON."""
    from upseg_qgis.core.engine.session import load_model
    from upseg_qgis.core.run.pipeline import RuntimeOptions, TilingOptions, segment

    t0 = time.perf_counter()
    lm = load_model(None, "cpu", threads=args.threads or None,
                    spinning=None if args.spinning is None else bool(args.spinning))
    r = segment(args.optical, args.sar, args.output, loaded_model=lm,
                tiling=TilingOptions(tile_size=args.tile or None, batch_size=args.batch or None),
                runtime=RuntimeOptions(
                    prefetch=None if args.prefetch is None else bool(args.prefetch),
                    parallel_runs=args.runs or None))
    rec = r.timing_record()
    rec["seconds_with_model_load"] = round(time.perf_counter() - t0, 4)
    rec["spinning"] = lm.spinning
    print("RESULT " + json.dumps(rec))


def core_run(scene: dict[str, Path], out: Path, **setting: Any) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.run_bench", "_segment_once",
           "--optical", str(scene["optical"]), "--sar", str(scene["sar"]), "--output", str(out)]
    for key in ("threads", "runs", "tile", "batch", "spinning", "prefetch"):
        if setting.get(key) is not None:
            cmd += [f"--{key}", str(int(setting[key]))]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GDAL_PAM_ENABLED": "NO"}
    res = run_watched(cmd, env)
    line = [x for x in res["stdout"].splitlines() if x.startswith("RESULT ")]
    if res["returncode"] != 0 or not line:
        raise RuntimeError(f"segment failed ({setting}): {res['stderr'][-2000:]}")
    rec = json.loads(line[-1][len("RESULT "):])
    rec["setting"] = setting
    return _with_process(rec, res, out)


_TIME = re.compile(r"Time: ([\d.]+) s, ([\d.]+) Mpx/s \((.*)\)")
_TILES = re.compile(
    r"Tiles: (\d+) of (\d+)x(\d+) px, overlap (\d+), (\d+) batch\(es\) of up to (\d+)"
)
_WAIT = re.compile(r"the model waited ([\d.]+) s for input")


def parse_log(text: str) -> dict[str, Any]:
    """The algorithm's own summary lines (pipeline.SegmentResult.summary) from qgis_process."""
    m = _TIME.search(text)
    if not m:
        raise RuntimeError("no 'Time:' line in the qgis_process output:\n" + text[-3000:])
    stages = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+) s", m.group(3))}
    rec: dict[str, Any] = {"algorithm_seconds": float(m.group(1)),
                           "algorithm_mpx_per_s": float(m.group(2)), "timings": stages}
    t = _TILES.search(text)
    if t:
        rec.update(tile_count=int(t.group(1)), tile_size=[int(t.group(2)), int(t.group(3))],
                   overlap=int(t.group(4)), batch_count=int(t.group(5)),
                   batch_size=int(t.group(6)))
    w = _WAIT.search(text)
    rec["prefetch"] = bool(w)
    rec["input_wait"] = float(w.group(1)) if w else None
    p = re.search(r"Execution provider: (\S+)", text)
    rec["provider"] = p.group(1) if p else None
    return rec


def qgis_run(scene: dict[str, Path], out: Path) -> dict[str, Any]:
    cmd = [str(QGIS_PROCESS), "run", "upseg:segment", "--",
           f"OPTICAL={scene['optical']}", f"SAR={scene['sar']}", f"OUTPUT={out}"]
    # No .aux.xml beside the inputs: every run computes QGIS's layer statistics afresh.
    env = {**os.environ, "UPSEG_QGIS_PROFILE": str(ROOT / ".qgis-profile"),
           "QT_QPA_PLATFORM": "offscreen", "GDAL_PAM_ENABLED": "NO"}
    res = run_watched(cmd, env)
    if res["returncode"] != 0:
        raise RuntimeError(f"qgis_process failed: {res['stdout'][-2000:]}\n{res['stderr'][-2000:]}")
    return _with_process(parse_log(res["stdout"]), res, out)


def _with_process(rec: dict[str, Any], res: dict[str, Any], out: Path) -> dict[str, Any]:
    """The run's record plus what watching its process tree measured; its output removed."""
    rec["process_seconds"] = round(res["seconds"], 3)
    rec["peak_rss_mb"] = round(res["peak_rss_mb"], 1)
    for k in ("cpu_seconds", "other_processes_cpu_seconds", "steal_seconds"):
        rec[k] = res[k]
    _cleanup(out)
    return rec


def _cleanup(out: Path) -> None:
    for p in out.parent.glob(out.stem + "*"):
        p.unlink(missing_ok=True)


def defaults() -> dict[str, Any]:
    """The settings `segment()` uses when nothing is set, on this machine's CPU."""
    from upseg_qgis.core.engine import session
    from upseg_qgis.core.run import defaults as dflt

    lm = session.load_model(None, "cpu")
    meta = lm.metadata
    batch = int(meta.raw.get("tiling", {}).get("batch_size")
                or dflt.default_batch_size(lm.provider))
    runs, threads = dflt.cpu_threading(None, None)
    return {"tile": dflt.default_tile_size(meta.tile_size, lm.provider),
            "model_tile": meta.tile_size, "overlap": meta.overlap, "batch": batch,
            "threads": threads, "runs": runs, "spinning": session.DEFAULT_SPINNING,
            "cpus": dflt.available_cpus(), "prefetch": dflt.DEFAULT_PREFETCH,
            "chunk_width": dflt.DEFAULT_CHUNK_WIDTH,
            "model": str(session.default_model_path().relative_to(ROOT)),
            "model_name": f"{meta.name} {meta.version} ({meta.variant})"}
