"""CPU cost of the encoders: parameters, GMACs and seconds per megapixel through the plugin's own
segmentation pipeline, float32 vs int8, for ConvNeXt tiny, the DOFA variants and UPSeg-Galileo.

    python -m bench.cost_table    # -> bench/cost_results.json, docs/benchmark_cost.md, and the
                                  #    marked section of docs/benchmark.md
    python -m bench.cost_table --models upseg_galileo_nano   # re-measure rows, keep the others

Each variant is built with random weights (cost does not depend on the weights), exported by the
project's exporter (metadata, parity, int8 via ONNX Runtime dynamic quantisation; the int8 class
agreement is reported but not enforced: untrained logits are near ties) and run by
`upseg_qgis.core.run.pipeline.segment` (what `upseg:segment` calls) on the real 512 x 512
Sen1Floods11 chip (13-band Sentinel-2 L1C + Sentinel-1 VV/VH dB), 256 px tiles asked with 32 px
overlap (a model whose metadata fixes its tiling, Galileo's 128 px, runs at its own), default
threading. The pipeline's overhead is the end-to-end time minus the same number of tiles run on
in-memory arrays by the same ONNX Runtime session (the raw limit). GMACs per 256 x 256 tile
pair (optical 4 bands + SAR 1 band) by torch.utils.flop_counter (conv and matmul). The machine
is shared: the load is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "cost_results.json"
DOC = ROOT / "docs" / "benchmark_cost.md"
BENCH_DOC = ROOT / "docs" / "benchmark.md"  # the table also goes here, in a marked section
CHIP = ROOT.parent / "shared" / "data" / "sen1floods11_sample"
VARIANTS = ("upseg_tiny", "upseg_dofa_tiny", "upseg_dofa_small", "upseg_dofa_base",
            "upseg_galileo_nano")
GOAL_INT8_S_PER_MPX = 5.0  # issue 20's goal for UPSeg-Galileo int8, end to end


def fake_checkpoint(name: str, path: Path) -> dict[str, Any]:
    """A checkpoint of `name` with random weights and the synthetic dataset's contract."""
    import torch

    from model_export.data.spec import SYNTHETIC_WATER_SPEC as SPEC
    from model_export.models import build_model_from_config, model_config
    from model_export.training.checkpoint import save_checkpoint

    cfg = model_config(name, in_channels_optical=4, in_channels_sar=1, num_classes=2,
                       optical_bands=[b.name for b in SPEC.optical_bands],
                       sar_bands=[b.name for b in SPEC.sar_bands], init_seed=0,
                       drop_path_rate=0.0)
    model = build_model_from_config(cfg)
    ckpt = {"model_name": name, "model_config": cfg.to_dict(), "state_dict": model.state_dict(),
            "dataset": SPEC.to_dict(),
            "normalisation": {"optical": {"mean": [1500.0] * 4, "std": [1000.0] * 4},
                              "sar": {"mean": [-15.0], "std": [5.0]}},
            "epoch": 0, "optimizer": {}, "scheduler": {}, "best_metric": None, "val_metrics": {},
            "config": {"data": {"dataset": "synthetic", "patch_size": 64,
                                "options": {"classes": "water",
                                            "num_samples": {"test": 4}}}},
            "seed": 0}
    save_checkpoint(ckpt, path)
    with torch.no_grad():
        from model_export.models.info import count_gmacs

        gmacs = count_gmacs(model, torch.randn(1, 4, 256, 256), torch.randn(1, 1, 256, 256))
    return {"params": sum(p.numel() for p in model.parameters()), "gmacs_256": gmacs}


def segment_seconds(model_path: Path, out_dir: Path, repeats: int) -> dict[str, Any]:
    from upseg_qgis.core.run.options import RuntimeOptions, TilingOptions
    from upseg_qgis.core.run.pipeline import segment

    best = float("inf")
    for i in range(repeats):
        res = segment(str(CHIP / "Spain_7370579_S2Hand.tif"),
                      str(CHIP / "Spain_7370579_S1Hand.tif"), str(out_dir / f"map{i}.tif"),
                      model=str(model_path), tiling=TilingOptions(tile_size=256, overlap=32),
                      runtime=RuntimeOptions(device="cpu"))
        best = min(best, res.seconds)
    mpx = res.width * res.height / 1e6
    raw = raw_seconds(model_path, res.tile_size, res.tile_count, repeats)
    return {"seconds": best, "megapixels": mpx, "s_per_mpx": best / mpx, "tiles": res.tile_count,
            "tile_size": list(res.tile_size), "raw_seconds": raw,
            "overhead": (best - raw) / best}


def raw_seconds(model_path: Path, tile: tuple[int, int], tiles: int, repeats: int) -> float:
    """Seconds for `tiles` in-memory tiles through the same session, batch 1, no I/O: what the
    pipeline's reading, warping, normalising, blending and writing add to is this."""
    import numpy as np

    from upseg_qgis.core.engine.session import load_model

    lm = load_model(str(model_path), "cpu")
    rng = np.random.default_rng(0)
    opt = rng.standard_normal((1, lm.metadata.optical.band_count, *tile), dtype=np.float32)
    sar = rng.standard_normal((1, lm.metadata.sar.band_count, *tile), dtype=np.float32)
    lm.run(opt, sar)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(tiles):
            lm.run(opt, sar)
        best = min(best, time.perf_counter() - t0)
    return best


def measure(name: str, work: Path, repeats: int) -> dict[str, Any]:
    from model_export.export.onnx_export import export_checkpoint, export_options

    ckpt = work / f"{name}.pt"
    row: dict[str, Any] = {"model": name, "date": time.strftime("%Y-%m-%d %H:%M"),
                           "load_before": round(os.getloadavg()[0], 2),
                           **fake_checkpoint(name, ckpt)}
    onnx_path = work / f"{name}.onnx"
    t0 = time.time()
    rep = export_checkpoint(ckpt, onnx_path, export_options(
        name, "bench", parity_patches=2, int8=True, min_int8_agreement=0.0))
    row["export_seconds"] = time.time() - t0
    row["fp32_max_abs_diff"] = rep["parity"]["max_abs_logit_diff"]
    row["int8_agreement"] = rep["int8_parity"]["argmax_agreement"]
    for kind, path in (("fp32", onnx_path), ("int8", Path(rep["int8_output"]))):
        row[f"{kind}_mib"] = path.stat().st_size / 2**20
        row[kind] = segment_seconds(path, work, repeats)
        print(f"[cost] {name} {kind}: {row[kind]['s_per_mpx']:.2f} s/Mpx, overhead "
              f"{100 * row[kind]['overhead']:.0f} %", flush=True)
    return row


def _tile_cells(r: dict[str, Any]) -> str:
    """Tile size, raw fp32 s/Mpx and the pipeline's overhead (n/a for rows measured before the
    table had these columns)."""
    f = r["fp32"]
    if "raw_seconds" not in f:
        return "256 | n/a | n/a | n/a"
    tile = "x".join(str(v) for v in f["tile_size"])
    raw = f["raw_seconds"] / f["megapixels"]
    return (f"{tile} | {raw:.2f} | {100 * f['overhead']:.0f} % | "
            f"{100 * r['int8']['overhead']:.0f} %")


def write_doc(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        "# CPU cost of the encoders (ConvNeXt tiny, DOFA, Galileo-nano)", "",
        "Produced by `python -m bench.cost_table`; do not edit by hand. "
        f"{info['date']}, {info['machine']}, {info['cpus']} cores (shared; load average "
        f"{info['load_before']} before, {info['load_after']} after), torch {info['torch']}, "
        f"ONNX Runtime {info['onnxruntime']}. Rows re-measured later say when, and the load "
        "then.", "",
        "Seconds per megapixel: `upseg_qgis.core.run.pipeline.segment` (what `upseg:segment` runs: "
        "reading, warping SAR, normalising, tiling with overlap, blending, writing) "
        "on the real 512 x 512 Sen1Floods11 chip, CPU, default threads, best of "
        f"{info['repeats']}. Tile: what ran (256 px asked; Galileo's metadata fixes 128). "
        "Raw: the same tiles through the same session from memory; overhead: the share of the "
        "end-to-end time that is not the raw session (reading, warping, blending, writing); "
        "negative where the pipeline's batches and parallel runs beat the raw batch-1 loop. "
        "GMACs: one 256 x 256 tile (4 optical + 1 SAR band). int8: ONNX "
        "Runtime dynamic quantisation of MatMul/Gemm weights; agreement = share of pixels with "
        "the same class as torch on random-weight models (a lower bound: untrained logits are "
        "near ties; the trained smoke model's int8 agreement is in docs/model.md).", "",
        "| model | encoder | parameters | GMACs / 256² | fp32 MiB | int8 MiB | fp32 s/Mpx | "
        "int8 s/Mpx | int8 speed-up | int8 agreement | tile | fp32 raw s/Mpx | "
        "fp32 overhead | int8 overhead |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {r['encoder']} | {r['params'] / 1e6:.2f} M | "
            f"{r['gmacs_256']:.1f} | {r['fp32_mib']:.1f} | {r['int8_mib']:.1f} | "
            f"{r['fp32']['s_per_mpx']:.2f} | {r['int8']['s_per_mpx']:.2f} | "
            f"{r['fp32']['s_per_mpx'] / r['int8']['s_per_mpx']:.2f}x | "
            f"{100 * r['int8_agreement']:.1f} % | {_tile_cells(r)} |")
    lines += ["", *_later_rows(rows), *_goal_lines(rows)]
    return "\n".join([*lines, ""])


def _later_rows(rows: list[dict[str, Any]]) -> list[str]:
    return [f"- `{r['model']}` measured {r['date']} (load average {r['load_before']} before)."
            for r in rows if r.get("date")]


def _goal_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 20's goal for UPSeg-Galileo, judged from the table."""
    out = []
    for r in rows:
        if r["model"].startswith("upseg_galileo"):
            v = r["int8"]["s_per_mpx"]
            met = "met" if v <= GOAL_INT8_S_PER_MPX else "not met"
            out.append(f"- Goal for `{r['model']}`: int8 end to end at most "
                       f"{GOAL_INT8_S_PER_MPX:.0f} s/Mpx; measured {v:.2f}: {met}.")
    return out


def insert_into_benchmark_page(table: str) -> None:
    """Replace (or append) the marked cost section of docs/benchmark.md, leaving the rest."""
    from bench.sections import replace_section

    replace_section(BENCH_DOC, "cost-table", table.replace("# CPU cost", "## CPU cost", 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cost_table", description=__doc__)
    p.add_argument("--models", nargs="+", default=list(VARIANTS))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--doc-only", action="store_true", help="rewrite the pages from the results")
    args = p.parse_args(argv)
    if args.doc_only:
        saved = json.loads(RESULTS.read_text())
        text = write_doc(saved["rows"], saved["info"])
        DOC.write_text(text)
        insert_into_benchmark_page(text)
        return 0
    import onnxruntime
    import torch

    from model_export.models import model_config

    info = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "repeats": args.repeats,
            "load_before": round(os.getloadavg()[0], 2)}
    saved = json.loads(RESULTS.read_text()) if RESULTS.is_file() else None
    partial = saved is not None and set(args.models) != set(VARIANTS)
    rows = list(saved["rows"]) if partial else []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            row = measure(name, Path(tmp), args.repeats)
            row["encoder"] = model_config(name).encoder
            rows = [r for r in rows if r["model"] != name] + [row]
    info["load_after"] = round(os.getloadavg()[0], 2)
    if partial:  # the table's header keeps the full run's date and machine
        info = saved["info"]
    RESULTS.write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
    text = write_doc(rows, info)
    DOC.write_text(text)
    insert_into_benchmark_page(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
