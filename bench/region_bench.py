"""`make bench`, region part: one job over several SYNTHETIC scenes, in one process and on Dask.

Four SYNTHETIC scenes (2 x 2, each `--scene-size` px square at 5 m, UTM; SAR in EPSG:4326 at
another resolution, `bench.synthetic_scene`) are segmented with the embedded model:
1. the single-scene path over a gdalbuildvrt mosaic of them (`cli segment`): the reference;
2. the region job in this process (`cli region`, no scheduler);
3. the region job on a LocalCluster of 1 and of 2 worker processes (`--scheduler local:N`).
Each run is a fresh process (`python -m upseg_qgis.core.cli ... --json`); wall time includes
start-up (and the cluster's); the job's own time excludes the interpreter start. The outputs'
pixels are compared with the reference, byte for byte. Results: `bench/region_results.json`,
`docs/benchmark_region.md`.

    python -m bench.region_bench            # what `make bench` runs (a few minutes)
    python -m bench.region_bench --quick    # small scenes, while developing
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synthetic_scene import SceneSpec, write_scene  # noqa: E402

RESULTS = ROOT / "bench" / "region_results.json"
DOC = ROOT / "docs" / "benchmark_region.md"
SCENES = ROOT / "out" / "bench" / "region_scenes"
WORK = ROOT / "out" / "bench" / "region_runs"
CLI = [sys.executable, "-m", "upseg_qgis.core.cli"]


def log(msg: str) -> None:
    print(f"[region bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def scenes(size: int) -> dict[str, list[str]]:
    """2 x 2 SYNTHETIC scenes side by side on one UTM lattice (kept for the next run)."""
    base = SceneSpec(size, size)
    out: dict[str, list[str]] = {"optical": [], "sar": []}
    for i in range(2):
        for j in range(2):
            origin = (base.origin[0] + j * size * base.gsd, base.origin[1] - i * size * base.gsd)
            spec = SceneSpec(size, size, origin=origin, seed=10 * i + j)
            paths = write_scene(SCENES, f"r{size}_{i}{j}", spec)
            out["optical"].append(str(paths["optical"]))
            out["sar"].append(str(paths["sar"]))
    return out


def mosaic(paths: list[str], dest: Path) -> str:
    from osgeo import gdal

    vrt = gdal.BuildVRT(str(dest), paths)
    first = gdal.Open(paths[0])
    for b in range(1, first.RasterCount + 1):
        vrt.GetRasterBand(b).SetDescription(first.GetRasterBand(b).GetDescription())
    vrt = None
    return str(dest)


def run(name: str, args: list[str]) -> dict[str, Any]:
    log(f"{name}: {' '.join(args[:2])} ...")
    t = time.perf_counter()
    proc = subprocess.run([*CLI, *args, "--json", "--quiet"], cwd=ROOT, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed: {proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout)
    log(f"{name}: {wall:.1f} s wall, {doc['seconds']:.1f} s in the job")
    return {"name": name, "wall_seconds": round(wall, 2), "job_seconds": round(doc["seconds"], 2),
            "megapixels": round(doc["width"] * doc["height"] / 1e6, 3),
            "output": doc["output"], "where": doc.get("where", "single-scene path")}


def pixels(path: str) -> np.ndarray:
    from osgeo import gdal

    return gdal.Open(path).ReadAsArray()


def compare(ref: np.ndarray, out: np.ndarray) -> dict[str, Any]:
    return {
        "same_bytes": bool(ref.shape == out.shape and ref.tobytes() == out.tobytes()),
        "sha256": hashlib.sha256(out.tobytes()).hexdigest()[:16],
        "class_agreement": round(float((ref == out).mean()), 9),
        "pixels_differing": int((ref != out).sum()),
    }


def halo_overhead(side: int, window: int) -> float:
    """Extra pixels the windows' halos compute, for the embedded model's tiling."""
    from upseg_qgis.core.region.plan import halo_overhead as overhead
    from upseg_qgis.core.region.plan import plan_windows
    from upseg_qgis.core.run.tiling import plan_tiles

    layout, _ = plan_tiles(side, side, 256, 32, 32)
    return overhead(plan_windows(layout, window))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scene-size", type=int, default=2048, help="px per scene side")
    ap.add_argument("--window-size", type=int, default=2048)
    ap.add_argument("--quick", action="store_true", help="512 px scenes, 256 px windows")
    args = ap.parse_args(argv)
    size, window = (512, 256) if args.quick else (args.scene_size, args.window_size)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    sc = scenes(size)
    common = ["--device", "cpu"]
    region = ["region", "--optical", *sc["optical"], "--sar", *sc["sar"], "--window-size",
              str(window), *common]
    runs = [run("single-scene path over the mosaic", [
        "segment", "--optical", mosaic(sc["optical"], WORK / "optical.vrt"),
        "--sar", mosaic(sc["sar"], WORK / "sar.vrt"), "--output", str(WORK / "single.tif"),
        *common])]
    runs.append(run("region, this process", [*region, "--output", str(WORK / "inproc.tif")]))
    for n in (1, 2):
        runs.append(run(f"region, LocalCluster of {n} worker(s)",
                        [*region, "--output", str(WORK / f"local{n}.tif"), "--scheduler",
                         f"local:{n}"]))
    ref = pixels(runs[0]["output"])
    for r in runs:
        r.update(compare(ref, pixels(r["output"])))
        r["megapixels_per_second"] = round(r["megapixels"] / r["job_seconds"], 3)
    res = {"scene_size": size, "scenes": 4, "window_size": window, "cpus": os.cpu_count(),
           "halo_overhead": round(halo_overhead(2 * size, window), 4),
           "date": time.strftime("%Y-%m-%d %H:%M"), "runs": runs}
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    write_doc(res)
    log(f"wrote {RESULTS.relative_to(ROOT)} and {DOC.relative_to(ROOT)}")
    return 0


def write_doc(res: dict[str, Any]) -> None:
    rows = "\n".join(
        f"| {r['name']} | {r['job_seconds']:.1f} | {r['wall_seconds']:.1f} | "
        f"{r['megapixels_per_second']:.2f} | {'yes' if r['same_bytes'] else 'no'} | "
        f"{100 * r['class_agreement']:.5f} % ({r['pixels_differing']} px) |"
        for r in res["runs"]
    )
    DOC.write_text(f"""# Region jobs: benchmark

Generated by `make bench` (`python -m bench.region_bench`) from `bench/region_results.json`;
do not edit. {res['date']}, {res['cpus']} CPU(s), a machine that may be shared with other work.

Four SYNTHETIC scenes ({res['scene_size']} x {res['scene_size']} px each, 2 x 2, UTM optical
uint16, SAR in EPSG:4326 at another resolution), the embedded model on the CPU, windows of
{res['window_size']} px (the halos add {res['halo_overhead']:.0%} more pixels to infer).
Each run is a fresh process; "job" time excludes the interpreter's
start, "wall" includes it (and starting the local cluster). Pixels compared with the
single-scene run over a gdalbuildvrt mosaic of the same scenes.

| run | job s | wall s | Mpx/s (job) | same bytes | class agreement |
| --- | ---: | ---: | ---: | :---: | ---: |
{rows}

Where the bytes differ: the SAR is reprojected window by window, and GDAL's approximate
transformer (error threshold 0.01 px) interpolates the reprojection over each warped window, so
SAR values may differ in their last digits between windows cut differently; with SAR on the
optical grid the region job equals the single run bit for bit (`tests/test_region_job.py`).
With 2 cores, one worker already uses both (ONNX Runtime runs batches in parallel), so a
second worker process on the same machine only splits them (and loads a second session); on a
cluster, each machine adds its own cores. The region runs also pay for the halos and, on Dask,
for starting the cluster and a session per worker.
""")


if __name__ == "__main__":
    sys.exit(main())
