"""The scenes at 1x, 4x and 16x, each segmented end to end through `qgis_process` with the
default settings (repeated when other processes disturbed the run), the raw limit measured
around the 1x runs, and the summary against the targets."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.config import (
    BASE_H,
    BASE_W,
    DISTURBED,
    SCENES,
    TARGET_MEMORY,
    TARGET_RATIO,
    TARGET_TIME,
    WORK,
    log,
)
from bench.raw import raw_throughput
from bench.runs import qgis_run
from bench.synthetic_scene import SceneSpec, write_scene


def make_scenes(scales: list[int], res: dict[str, Any]) -> dict[int, dict[str, Path]]:
    """The synthetic scenes (reused when already written), described in `res["scenes"]`."""
    scenes, res["scenes"] = {}, {}
    for s in scales:
        k = int(round(s ** 0.5))
        spec = SceneSpec(BASE_W * k, BASE_H * k)
        t = time.perf_counter()
        scenes[s] = write_scene(SCENES, f"x{s}", spec)
        manifest = json.loads(scenes[s]["manifest"].read_text())
        res["scenes"][str(s)] = {"width": spec.width, "height": spec.height,
                                 "megapixels": round(spec.width * spec.height / 1e6, 2),
                                 "sar_size": manifest["sar_size"], "optical_crs": "EPSG:32650",
                                 "sar_crs": "EPSG:4326", "gsd_m": spec.gsd,
                                 "sar_pixel_deg": spec.sar_pixel_deg,
                                 "generation_seconds": manifest["seconds"],
                                 "reused": time.perf_counter() - t < 1.0}
        log(f"scene {s}x: {spec.width}x{spec.height} ({res['scenes'][str(s)]})")
    return scenes


def limit(defaults: dict[str, Any], quick: bool) -> dict[str, Any]:
    """Raw throughput at the default setting: what `segment` could reach at most."""
    r = raw_throughput(defaults["tile"], defaults["batch"], defaults["threads"],
                       defaults["spinning"], defaults["runs"], 4.0 if quick else 8.0)
    log(f"raw limit at the default setting: {r}")
    return r


def _runs_of(scene: dict[str, Path], s: int, cpus: int, quick: bool) -> list[dict[str, Any]]:
    """Runs that other processes disturbed (they used more than DISTURBED of the CPU time the
    machine had during the run) are repeated, up to a few times."""
    min_reps = 2 if s == 1 and not quick else 1
    max_reps = 1 if quick else (4 if s == 1 else 3)
    runs = []
    for _ in range(max_reps):
        log(f"qgis_process run upseg:segment on the {s}x scene")
        r = qgis_run(scene, WORK / f"x{s}_classes.tif")
        r["disturbed_fraction"] = round(r["other_processes_cpu_seconds"] / (
            cpus * r["process_seconds"]), 3)
        log(f"{s}x: {r['process_seconds']:.1f} s, peak {r['peak_rss_mb']} MB, stages "
            f"{r['timings']}, others used {r['other_processes_cpu_seconds']} CPU s "
            f"({r['disturbed_fraction']:.0%} of the machine)")
        runs.append(r)
        if len(runs) >= min_reps and r["disturbed_fraction"] <= DISTURBED:
            break
    return runs


def _chosen(runs: list[dict[str, Any]], mpx: float) -> dict[str, Any]:
    """The fastest undisturbed run (else the least disturbed), with per-megapixel figures."""
    calm = [x for x in runs if x["disturbed_fraction"] <= DISTURBED]
    r = min(calm, key=lambda x: x["process_seconds"]) if calm else min(
        runs, key=lambda x: x["disturbed_fraction"])
    r["all_disturbed_fraction"] = [x["disturbed_fraction"] for x in runs]
    r["all_process_seconds"] = [x["process_seconds"] for x in runs]
    r["all_cpu_seconds"] = [x["cpu_seconds"] for x in runs]
    r["all_peak_rss_mb"] = [x["peak_rss_mb"] for x in runs]
    r["peak_rss_mb"] = max(r["all_peak_rss_mb"])
    r["megapixels"] = mpx
    r["end_to_end_mpx_per_s"] = round(mpx / r["process_seconds"], 4)
    r["seconds_per_mpx"] = round(r["process_seconds"] / mpx, 4)
    # CPU time is the figure least moved by other processes on a shared machine.
    r["cpu_seconds_per_mpx"] = round(min(r["all_cpu_seconds"]) / mpx, 4)
    r["algorithm_seconds_per_mpx"] = round(r["algorithm_seconds"] / mpx, 4)
    r["qgis_process_overhead_seconds"] = round(r["process_seconds"] - r["algorithm_seconds"], 3)
    tile_px = r.get("tile_count", 0) * np.prod(r.get("tile_size", [0, 0]))
    r["tile_pixels_per_scene_pixel"] = round(float(tile_px) / (mpx * 1e6), 4)
    return r


def end_to_end(scales: list[int], scenes: dict[int, dict[str, Path]], res: dict[str, Any],
               quick: bool) -> None:
    """`res["end_to_end"]` per scale and `res["raw"]`, the limit measured before and after
    the 1x runs (the higher is kept)."""
    res["end_to_end"] = {}
    limits = []
    for s in scales:
        if s == 1:
            limits.append(limit(res["defaults"], quick))
        runs = _runs_of(scenes[s], s, res["machine"]["logical_cpus"], quick)
        if s == 1:
            limits.append(limit(res["defaults"], quick))
        res["end_to_end"][str(s)] = _chosen(runs, res["scenes"][str(s)]["megapixels"])
    if not limits:
        limits.append(limit(res["defaults"], quick))
    best = max(limits, key=lambda x: x["mpx_per_s"])
    best["all_mpx_per_s"] = [x["mpx_per_s"] for x in limits]
    res["raw"] = best


def summarise(res: dict[str, Any], scales: list[int]) -> None:
    e2e = res["end_to_end"]
    raw = res["raw"]["mpx_per_s"]
    one = e2e.get("1")
    res["raw_mpx_per_s"] = raw
    if one:
        res["end_to_end_mpx_per_s"] = one["end_to_end_mpx_per_s"]
        res["ratio_end_to_end_to_raw"] = round(one["end_to_end_mpx_per_s"] / raw, 4)
        # The same, in tile pixels: what the pipeline costs beyond re-computing the overlaps.
        res["ratio_tile_pixels_end_to_end_to_raw"] = round(
            one["end_to_end_mpx_per_s"] * one["tile_pixels_per_scene_pixel"] / raw, 4)
        res["ratio_algorithm_to_raw"] = round(one["algorithm_mpx_per_s"] / raw, 4)
    res["peak_rss_mb"] = {k: v["peak_rss_mb"] for k, v in e2e.items()}
    res["seconds_per_mpx"] = {k: v["seconds_per_mpx"] for k, v in e2e.items()}
    targets: dict[str, Any] = {}
    if one:
        targets["ratio_end_to_end_to_raw_1x"] = {
            "target": f">= {TARGET_RATIO}", "value": res["ratio_end_to_end_to_raw"],
            "met": res["ratio_end_to_end_to_raw"] >= TARGET_RATIO}
    top = str(max(scales))
    if one and top != "1" and top in e2e:
        mem = e2e[top]["peak_rss_mb"] / one["peak_rss_mb"]
        tpm = e2e[top]["seconds_per_mpx"] / one["seconds_per_mpx"]
        targets[f"peak_rss_{top}x_over_1x"] = {"target": f"<= {TARGET_MEMORY}",
                                               "value": round(mem, 3), "met": mem <= TARGET_MEMORY}
        targets[f"seconds_per_mpx_{top}x_over_1x"] = {
            "target": f"<= {TARGET_TIME}", "value": round(tpm, 3), "met": tpm <= TARGET_TIME}
        alg = e2e[top]["algorithm_seconds_per_mpx"] / one["algorithm_seconds_per_mpx"]
        targets[f"algorithm_seconds_per_mpx_{top}x_over_1x"] = {
            "target": f"<= {TARGET_TIME} (QGIS start-up excluded)", "value": round(alg, 3),
            "met": alg <= TARGET_TIME}
    res["targets"] = targets


