"""`make bench`: how fast `upseg:segment` is, how far from its limit, and its memory vs scene size.

One run on one machine, in this order:
1. machine, git revision, and what else was using the CPU (the machine may be shared);
2. SYNTHETIC scenes of WHU-OPT-SAR size (5556 x 3704 optical, SAR in EPSG:4326 at another
   resolution) at 1x, 4x and 16x the area, written strip by strip (`bench.synthetic_scene`) and
   kept in `out/bench/scenes` for the next run;
3. the raw ONNX Runtime throughput of the default model on in-memory tiles, for a small sweep of
   intra-op threads, spinning, tile size and batch;
4. an end-to-end sweep on the 1x scene through the core (`segment()` in a fresh process per
   setting): threads, spinning, I/O prefetch, tile size, batch;
5. the limit: raw throughput at the default setting (what `segment` uses when nothing is set);
6. end to end through `qgis_process run upseg:segment` with default settings on the 1x, 4x and
   16x scenes: wall time and peak RSS of the whole process tree (psutil, polled every 50 ms),
   stage times from the algorithm's own log;
7. `bench/results.json`, `docs/benchmark.md` and `docs/img/benchmark_scaling.png`.

    python -m bench.run_bench                  # everything (what `make bench` runs)
    python -m bench.run_bench --scales 1 --quick   # a short check while developing

The parts: `config` (paths, targets), `machine`, `watch` (a process tree's time and memory),
`raw` (the ONNX Runtime limit), `runs` (one segmentation, core or qgis_process), `sweeps`,
`scales` (the 1x/4x/16x runs and the summary), `doc` and `plot` (the page).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.config import DOC, PLOT, RESULTS, SCALES, WORK, log
from bench.doc import write_doc
from bench.machine import git_revision, machine_info, other_cpu_load
from bench.plot import plot
from bench.runs import defaults, segment_once
from bench.scales import end_to_end, make_scenes, summarise
from bench.sweeps import e2e_sweep, raw_sweep, sweep_verdict, sweeps_from


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default=",".join(str(s) for s in SCALES))
    ap.add_argument("--quick", action="store_true", help="short sweeps (development)")
    ap.add_argument("--no-sweep", action="store_true", help="skip the sweeps")
    ap.add_argument("--sweep-from", default=None,
                    help="take the sweeps from this earlier results file instead of running them")
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--doc", default=str(DOC))
    ap.add_argument("--plot", default=str(PLOT))
    ap.add_argument("--doc-only", action="store_true",
                    help="only rewrite the markdown and the plot from the results file")
    return ap.parse_args(argv)


def _sweeps(args: argparse.Namespace, res: dict[str, Any], scene: dict[str, Path]) -> None:
    if args.sweep_from:
        sweeps_from(args.sweep_from, res)
    elif not args.no_sweep:
        res["raw_sweep"] = raw_sweep(res["defaults"], args.quick)
        res["end_to_end_sweep_1x"], res["end_to_end_sweep_passes"] = e2e_sweep(
            scene, res["defaults"], args.quick)
    if res.get("end_to_end_sweep_1x"):
        verdict = sweep_verdict(res["end_to_end_sweep_1x"], res["defaults"])
        res["sweep_verdict"] = verdict
        last = verdict.get("shape") or verdict.get("threads") or {}
        res["best_end_to_end_setting_1x"] = last.get("best")
        res["defaults_are_best"] = all(v["defaults_are_best"] for v in verdict.values())


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.doc_only:
        res = json.loads(Path(args.results).read_text())
        plot(res, Path(args.plot))
        write_doc(res, Path(args.doc), Path(args.plot))
        return 0
    scales = [int(s) for s in args.scales.split(",") if s]
    started = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    log("machine")
    res: dict[str, Any] = {"synthetic_data": True, "machine": machine_info(),
                           "git": git_revision(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    res["load_before"] = other_cpu_load()
    res["defaults"] = defaults()
    log(f"defaults: {res['defaults']}")
    scenes = make_scenes(scales, res)
    if 1 not in scenes and not (args.no_sweep or args.sweep_from):
        scenes.update(make_scenes([1], {}))  # the sweeps run on the 1x scene
    _sweeps(args, res, scenes.get(1, {}))
    end_to_end(scales, scenes, res, args.quick)
    summarise(res, scales)
    res["bench_seconds"] = round(time.perf_counter() - started, 1)
    res["load_after"] = other_cpu_load()
    Path(args.results).write_text(json.dumps(res, indent=1) + "\n")
    log(f"wrote {args.results}")
    plot(res, Path(args.plot))
    write_doc(res, Path(args.doc), Path(args.plot))
    log(f"wrote {args.doc} and {args.plot}; {res['bench_seconds']:.0f} s in all")
    return 0


def cli() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_segment_once":
        ap = argparse.ArgumentParser()
        for a in ("optical", "sar", "output"):
            ap.add_argument(f"--{a}", required=True)
        for a in ("threads", "runs", "tile", "batch", "spinning", "prefetch"):
            ap.add_argument(f"--{a}", type=int, default=None)
        segment_once(ap.parse_args(sys.argv[2:]))
        return 0
    return main()


if __name__ == "__main__":
    sys.exit(cli())
