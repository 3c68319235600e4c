"""`make model`: the embedded default model, end to end, from a finished training run.

Given the run folder of `python -m model_export train --config
model_export/configs/ombria_upseg_tiny.yaml`, this evaluates the best checkpoint on the OMBRIA
test split, measures the per-patch SAR Otsu baseline on the same split, exports and
parity-checks the ONNX file into the plugin, evaluates the exported file itself with ONNX
Runtime, and writes the model card next to it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from model_export.evaluation.onnx_eval import evaluate_onnx, evaluate_otsu

from .onnx_export import export_checkpoint

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "upseg_qgis" / "models" / "upseg_default.onnx"
CARD_NAME = "MODEL_CARD.md"


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def sen1floods11_check(model: Path, data_root: str | None) -> dict[str, Any] | None:
    """Run the plugin's own pipeline on the raw, georeferenced Sen1Floods11 chip (13-band L1C
    digital numbers + S1 dB, EPSG:4326) and score it against the hand label. Reported only:
    nothing is tuned on it."""
    from osgeo import gdal

    from upseg_qgis.core.pipeline import RuntimeOptions, segment

    base = Path(data_root) if data_root else ROOT.parent / "shared" / "data"
    chip = base / "sen1floods11_sample"
    if not (chip / "Spain_7370579_LabelHand.tif").is_file():
        return None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "water.tif"
        result = segment(str(chip / "Spain_7370579_S2Hand.tif"),
                         str(chip / "Spain_7370579_S1Hand.tif"), str(out),
                         model=str(model), runtime=RuntimeOptions(device="cpu"))
        pred = gdal.Open(str(out)).ReadAsArray()
    label = gdal.Open(str(chip / "Spain_7370579_LabelHand.tif")).ReadAsArray()
    known = (label >= 0) & (pred != 255)
    p, t = (pred == 1) & known, (label == 1) & known
    return {"water_iou": float((p & t).sum() / max(1, (p | t).sum())),
            "predicted_water_fraction": float(p.sum() / known.sum()),
            "labelled_water_fraction": float(t.sum() / known.sum()),
            "optical_units": result.optical_units, "sar_units": result.sar_units,
            "optical_bands": result.optical_bands, "sar_bands": result.sar_bands}


def _chip_paragraph(chip: dict[str, Any] | None) -> list[str]:
    if not chip:
        return ["(Sen1Floods11 sample not found; not measured.)"]
    return [
        "The plugin's own pipeline on the Sen1Floods11 chip Spain_7370579 (raw 13-band "
        "Sentinel-2 L1C digital numbers, Sentinel-1 VV/VH in dB, EPSG:4326, 512x512, hand "
        f"label): water IoU {chip['water_iou']:.2f} (units detected: optical "
        f"`{chip['optical_units']}`, SAR `{chip['sar_units']}`; bands "
        f"{list(chip['optical_bands'])} and {list(chip['sar_bands'])}). It predicts "
        f"{100 * chip['predicted_water_fraction']:.0f} % water where the label has "
        f"{100 * chip['labelled_water_fraction']:.0f} %: the domain gap between OMBRIA's 8-bit "
        "renderings and raw data is the main weakness of this model (see Limits). Nothing was "
        "tuned on this chip.",
    ]


def _row(name: str, m: dict[str, Any]) -> str:
    pct = lambda v: f"{100 * v:.1f}"
    return (f"| {name} | {pct(m['iou'][1])} | {pct(m['miou'])} | {pct(m['mpa'])} | "
            f"{pct(m['oa'])} | {m['kappa']:.3f} |")


def write_card(path: Path, summary: dict[str, Any]) -> None:
    meta = summary["metadata"]
    opt, sar = meta["inputs"]["optical"], meta["inputs"]["sar"]
    conv = lambda block: "; ".join(
        f"`{c['from']}`: {c.get('description', '')}" for c in block["conversions"]) or "none"
    torch_m, onnx_m, otsu_m = summary["torch_test"], summary["onnx_test"], summary["otsu_test"]
    train_cfg = meta["training"].get("config", {}).get("train", {})
    lines = [
        f"# Model card: {meta['model']['name']} ({meta['model']['variant']}, "
        f"v{meta['model']['version']})",
        "",
        "The default model embedded in the UPSeg QGIS plugin. Produced by `make model` "
        f"(git {summary['git_revision']}); every number below was written by that command.",
        "",
        "## What it is for",
        "Water / flood mapping from a Sentinel-2 optical layer (true-colour red, green, blue) and "
        "a Sentinel-1 SAR layer (one band, VV where the file says so) taken after the event. Two "
        "classes: " + ", ".join(f"{c['value']} = {c['name']} ({c['colour']})"
                                for c in meta["classes"])
        + f"; {meta['nodata_value']} = no data (either input missing).",
        "",
        "## Architecture",
        f"UPSeg `{meta['model']['variant']}`: modality stems, a shared 4-stage ConvNeXt-style "
        "backbone (strides 4-32) fine-tuned from scratch (no pretrained remote-sensing weights can "
        "be fetched here), a Variance Enhancement Module and bidirectional cross-modal prompts at "
        "every stage, and an all-MLP fusion decoder. "
        f"File size {summary['export']['size_bytes'] / 1e6:.2f} MB (fp32, opset "
        f"{summary['export']['opset']}).",
        "",
        "## Training data",
        f"OMBRIA (real Sentinel-1 + Sentinel-2 after-event flood patches, 256x256, ~10 m), "
        f"`train/` minus a fixed 10 % validation split; {train_cfg.get('epochs', '?')} epochs, "
        f"seed {meta['training'].get('seed')}, best epoch by validation water IoU "
        f"(epoch {meta['training'].get('epochs')}). Cite: {meta['training']['dataset_citation']}. "
        f"Licence of the data: {meta['training']['dataset_licence']}.",
        "",
        "## Results on the OMBRIA test split (70 patches, never used for training or selection)",
        "",
        "| model | water IoU % | mIoU % | mPA % | OA % | Kappa |",
        "| --- | --- | --- | --- | --- | --- |",
        _row("UPSeg-tiny, PyTorch checkpoint", torch_m),
        _row("UPSeg-tiny, this ONNX file in ONNX Runtime", onnx_m),
        _row("per-patch Otsu threshold on the SAR patch", otsu_m),
        "",
        f"Export parity on {summary['export']['parity']['patches']} real test patches: max |logit "
        f"difference| {summary['export']['parity']['max_abs_logit_diff']:.2e}, argmax agreement "
        f"{100 * summary['export']['parity']['argmax_agreement']:.3f} %.",
        "",
        "## On a raw, georeferenced scene",
        *_chip_paragraph(summary.get("sen1floods11")),
        "",
        "## Input expectations (from the metadata, which the plugin applies)",
        f"- Optical: {', '.join(b['description'] for b in opt['bands'])}; native units "
        f"`{opt['units']}`; conversions: {conv(opt)}; normalisation mean "
        f"{[round(v, 2) for v in opt['normalisation']['mean']]}, std "
        f"{[round(v, 2) for v in opt['normalisation']['std']]} after clipping to "
        f"{opt['normalisation']['clip']}.",
        f"- SAR: {', '.join(b['description'] for b in sar['bands'])}; native units "
        f"`{sar['units']}`; conversions: {conv(sar)}; normalisation mean "
        f"{[round(v, 2) for v in sar['normalisation']['mean']]}, std "
        f"{[round(v, 2) for v in sar['normalisation']['std']]}.",
        f"- Ground sample distance about {meta['gsd_m']:g} m; tiles of "
        f"{meta['tiling']['tile_size']} px with {meta['tiling']['overlap']} px overlap.",
        "",
        "## Limits",
        "- OMBRIA's 8-bit stretch of the Sentinel data is undocumented, and so is its S1 "
        "polarisation. The conversions above from reflectance and from dB are our assumptions "
        "(see model_export/export/renderings.py); training jittered gain and offset so the model "
        "tolerates a stretch that is somewhat off. Raw Sentinel-2 L1C (top of atmosphere) is "
        "brighter than surface reflectance, most of all in blue.",
        "- Trained on after-event flood scenes only; it knows water vs everything else, not land "
        "cover classes. Permanent and flood water are one class.",
        "- Small model (CPU-friendly); it has seen no mountains' radar shadow, no snow, no "
        "urban double bounce at scale: expect false water in radar shadow.",
        "",
        f"## Licence and citation\nCode: {meta['licence']}. Method: {meta['citation']}.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export.export.default_model",
                                description=__doc__)
    p.add_argument("--run", required=True, help="training run folder holding best.pt")
    p.add_argument("--output", default=str(DEFAULT_OUTPUT))
    p.add_argument("--model-version", default="0.1.0")
    p.add_argument("--data-root", default=None)
    args = p.parse_args(argv)
    run = Path(args.run)
    ckpt = run / "best.pt"
    from model_export.evaluation.evaluate import evaluate_checkpoint, write_reports

    overrides = {"data_root": args.data_root} if args.data_root else {}
    torch_test = evaluate_checkpoint(ckpt, "test", overrides)
    write_reports(torch_test, run / "eval", "best_test")
    otsu_test = evaluate_otsu("ombria", "test", args.data_root)
    keep = ("oa", "mpa", "miou", "fwiou", "kappa", "mf1", "iou", "pa", "f1", "class_names",
            "num_pixels")
    test_metrics = {"split": "ombria test (70 patches)",
                    **{k: torch_test[k] for k in keep},
                    "otsu_sar_baseline": {k: otsu_test[k] for k in keep}}
    export = export_checkpoint(
        ckpt, args.output, name="upseg_tiny_ombria_water", version=args.model_version,
        description="UPSeg-tiny trained on OMBRIA: water vs not water from Sentinel-2 RGB + "
        "Sentinel-1, after flood events.",
        test_metrics=test_metrics, data_root=args.data_root,
    )
    onnx_test = evaluate_onnx(args.output, "ombria", "test", args.data_root)
    from .onnx_export import onnx_metadata

    summary = {"git_revision": _git_revision(), "export": export, "torch_test": torch_test,
               "onnx_test": onnx_test, "otsu_test": otsu_test,
               "sen1floods11": sen1floods11_check(Path(args.output), args.data_root),
               "metadata": onnx_metadata(args.output)}
    out = Path(args.output)
    (out.parent / "default_model_summary.json").write_text(json.dumps(
        {k: v for k, v in summary.items() if k != "metadata"}, indent=1, default=str) + "\n")
    write_card(out.parent / CARD_NAME, summary)
    print(f"wrote {out} ({export['size_bytes'] / 1e6:.2f} MB) and {out.parent / CARD_NAME}")
    print(f"water IoU test: torch {torch_test['iou'][1]:.4f}, onnx {onnx_test['iou'][1]:.4f}, "
          f"Otsu {otsu_test['iou'][1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
