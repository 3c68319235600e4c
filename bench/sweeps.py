"""The sweeps: raw ONNX Runtime throughput per threading and tile shape, and end to end through
the core on the 1x scene per threading (then per tile and batch), with the verdict on whether
the defaults are the fastest setting measured.

Threading setups follow the machine's cores (n): one run of one thread, one run of n threads
(with and without spinning), n runs of one thread, and, on more than two cores, the default
split (two runs of n / 2 threads), so the default is always among the settings measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.config import WORK, log
from bench.raw import raw_throughput
from bench.runs import core_run

SHAPES = [(256, 1), (256, 2), (256, 4), (512, 1), (512, 2), (1024, 1)]
SETTING_KEYS = ("threads", "runs", "spinning", "prefetch", "tile", "batch")


def threading_setups(cores: int, defaults: dict[str, Any]) -> list[tuple[int, int, bool]]:
    """(intra-op threads, runs at once, spinning) to measure on `cores` cores."""
    setups = [(1, 1, False), (cores, 1, False), (cores, 1, True), (1, cores, False)]
    dflt = (defaults["threads"], defaults["runs"], defaults["spinning"])
    return list(dict.fromkeys([*setups, dflt]))  # in order, without repeats


def raw_sweep(defaults: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    secs, passes = (2.0, 1) if quick else (4.0, 2)
    log(f"raw ONNX Runtime sweep ({passes} passes, best of each kept: the machine is shared)")
    shapes = [(256, 1), (512, 1)] if quick else SHAPES
    setups = threading_setups(defaults["cpus"], defaults)
    if quick:
        setups = setups[1::2]
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for _ in range(passes):
        for threads, runs, spinning in setups:
            for tile, batch in shapes:
                key = (threads, runs, spinning, tile, batch)
                r = raw_throughput(tile, batch, threads, spinning, runs, secs)
                r["all_mpx_per_s"] = best.get(key, {}).get("all_mpx_per_s", []) + [
                    r["mpx_per_s"]]
                r["mpx_per_s"] = max(r["all_mpx_per_s"])
                # Share of tile pixels that are new scene pixels in the interior.
                r["interior_useful_fraction"] = round(
                    ((tile - defaults["overlap"]) / tile) ** 2, 4)
                r["useful_mpx_per_s"] = round(r["mpx_per_s"] * r["interior_useful_fraction"], 4)
                best[key] = r
                log(f"raw {key}: {r['all_mpx_per_s']} Mpx/s")
    return list(best.values())


class _E2ESweep:
    """End-to-end runs of settings, each kept with all its throughputs and peaks."""

    def __init__(self, scene: dict[str, Path], defaults: dict[str, Any]) -> None:
        self.scene = scene
        self.defaults = defaults
        self.best: dict[str, dict[str, Any]] = {}

    def run(self, stage: str, setting: dict[str, Any]) -> None:
        st = {"tile": self.defaults["tile"], "batch": self.defaults["batch"], **setting}
        key = stage + json.dumps(st, sort_keys=True)
        r = core_run(self.scene, WORK / "sweep.tif", **st)
        old = self.best.get(key, {})
        seen = old.get("all_mpx_per_s", []) + [r["megapixels_per_second"]]
        peaks = old.get("all_peak_rss_mb", []) + [r["peak_rss_mb"]]
        if not old or r["megapixels_per_second"] > old["megapixels_per_second"]:
            self.best[key] = r
        self.best[key].update(stage=stage, all_mpx_per_s=seen, all_peak_rss_mb=peaks,
                              mean_mpx_per_s=round(float(np.mean(seen)), 4))
        log(f"e2e {stage} {st}: {seen} Mpx/s, {r['seconds']} s, peak {r['peak_rss_mb']} MB, "
            f"model waited {r['input_wait']} s, others used {r['other_processes_cpu_seconds']}"
            " CPU s")

    def best_of(self, stage: str) -> dict[str, Any]:
        return max((r for r in self.best.values() if r["stage"] == stage),
                   key=lambda r: r["mean_mpx_per_s"])


def e2e_sweep(scene: dict[str, Path], defaults: dict[str, Any],
              quick: bool) -> tuple[list[dict[str, Any]], int]:
    """(runs, passes). Interleaved passes, settings compared by their mean and only within a
    stage (single runs vary by +-20 % on this shared machine, and its speed drifts)."""
    log("end-to-end sweep on the 1x scene (core, one fresh process per setting)")
    passes = 1 if quick else 3
    sweep = _E2ESweep(scene, defaults)
    setups = []
    for threads, runs, spinning in threading_setups(defaults["cpus"], defaults):
        for prefetch in (True, False):
            if spinning and prefetch:
                continue  # spinning threads starve the helper threads (measured earlier)
            setups.append({"threads": threads, "runs": runs, "spinning": spinning,
                           "prefetch": prefetch})
    if quick:
        setups = [setups[0], setups[-1]]
    for _ in range(passes):
        for st in setups:
            sweep.run("threads", st)
    best = sweep.best_of("threads")
    # Tile and batch with the best threading (the default shape again, so that it is compared
    # with runs from the same minutes).
    shapes = [(256, 2), (512, 1)] if quick else SHAPES
    for _ in range(passes):
        for tile, batch in shapes:
            sweep.run("shape", {**best["setting"], "tile": tile, "batch": batch})
    return list(sweep.best.values()), passes


def sweep_verdict(sweep: list[dict[str, Any]], defaults: dict[str, Any]) -> dict[str, Any]:
    """Per stage: the best setting by mean throughput, and the defaults against it."""
    verdict = {}
    for stage in ("threads", "shape"):
        rows = [r for r in sweep if r.get("stage", "threads") == stage]
        if not rows:
            continue
        top = max(rows, key=lambda r: r["mean_mpx_per_s"])
        dflt = [r for r in rows if all(r["setting"].get(k) == defaults[k] for k in SETTING_KEYS)]
        verdict[stage] = {
            "best": top["setting"], "best_mean_mpx_per_s": top["mean_mpx_per_s"],
            "defaults_mean_mpx_per_s": dflt[0]["mean_mpx_per_s"] if dflt else None,
            "defaults_are_best": bool(dflt) and dflt[0]["setting"] == top["setting"],
            "defaults_over_best": round(dflt[0]["mean_mpx_per_s"] / top["mean_mpx_per_s"], 4)
            if dflt else None}
        log(f"sweep {stage}: best {top['setting']} {top['all_mpx_per_s']}; defaults "
            f"{verdict[stage]['defaults_over_best']} of it")
    return verdict


def sweeps_from(path: str, res: dict[str, Any]) -> None:
    """Take the sweeps of an earlier results file into `res`."""
    earlier = json.loads(Path(path).read_text())
    for k in ("raw_sweep", "end_to_end_sweep_1x", "end_to_end_sweep_passes"):
        if k in earlier:
            res[k] = earlier[k]
    res["sweep_from"] = {"started": earlier.get("started"), "git": earlier.get("git"),
                         "load_before": earlier.get("load_before")}
    log(f"sweeps taken from {path} (run {earlier.get('started')})")
