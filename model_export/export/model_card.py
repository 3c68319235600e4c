"""The default model's card (``upseg_qgis/models/MODEL_CARD.md``), from the ``make model`` summary.

Every number comes from the summary dict that ``default_model.py`` writes next to the model
(``default_model_summary.json``); nothing here is typed by hand.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _pct(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else (
        f"{100 * v:.{digits}f}")


def _ms(cv: dict[str, Any] | None, key: str) -> str:
    if not cv or key not in cv:
        return "n/a"
    m, s = cv[key]
    return f"{100 * m:.1f} ± {100 * s:.1f}"


def _chip(c: dict[str, Any] | None, key: str = "water_iou") -> str:
    return "n/a" if not c else f"{c[key]:.2f}" if key == "water_iou" else (
        f"{100 * c[key]:.0f}")


def comparison_table(summary: dict[str, Any]) -> list[str]:
    prev = summary.get("previous") or {}
    new = summary
    cv_old, cv_new = summary["cv"].get("old_recipe"), summary["cv"].get("new_recipe")
    n_folds = (cv_new or {}).get("folds", "?")
    rows = [
        ("OMBRIA test, water IoU % (published flood masks; ONNX file)",
         _pct(prev.get("onnx_test_water_iou")), _pct(new["onnx_test"]["iou"][1])),
        ("OMBRIA test, water IoU % (pre-event water ignored)",
         _pct(prev.get("onnx_test_target_water_iou")), _pct(new["test_target"]["iou"][1])),
        (f"grouped CV of the recipe, water IoU % (mean ± sd, {n_folds} spatial folds, target "
         "masks)", _ms(cv_old, "water_iou"), _ms(cv_new, "water_iou")),
        ("grouped CV, water IoU % (published masks)", _ms(cv_old, "water_iou_published"),
         _ms(cv_new, "water_iou_published")),
        ("Sen1Floods11 chip, water IoU (plugin pipeline, raw L1C + dB)",
         _chip(prev.get("sen1floods11")), _chip(new.get("sen1floods11"))),
        ("Sen1Floods11 chip, predicted water % (hand label: 27 %)",
         _chip(prev.get("sen1floods11"), "predicted_water_fraction"),
         _chip(new.get("sen1floods11"), "predicted_water_fraction")),
        ("Sen1Floods11 chip with TTA (flips), water IoU", "n/a",
         _chip(new.get("sen1floods11_tta"))),
        ("per-patch SAR Otsu, OMBRIA test water IoU % (same for both)",
         _pct(new["otsu_test"]["iou"][1]), _pct(new["otsu_test"]["iou"][1])),
        ("per-patch SAR Otsu, grouped CV water IoU % (target masks)", _ms(cv_new, "otsu"),
         _ms(cv_new, "otsu")),
        ("file size MB", f"{prev['size_bytes'] / 1e6:.2f}" if prev.get("size_bytes") else "n/a",
         f"{new['export']['size_bytes'] / 1e6:.2f}"),
    ]
    return ["| | previous default " + f"({prev.get('version', '?')}) | this model "
            f"({summary['metadata']['model']['version']}) |", "|---|---:|---:|",
            *[f"| {a} | {b} | {c} |" for a, b, c in rows]]


def baseline_lines(summary: dict[str, Any]) -> list[str]:
    """The model's chip score beside what the raster calculator gives on the same chip."""
    base = summary.get("chip_baselines") or {}
    chip = summary.get("sen1floods11")
    if not base or not chip:
        return ["(not measured: the Sen1Floods11 chip was not found)"]
    rows = [f"| this model (plugin pipeline, raw L1C + dB) | {chip['water_iou']:.3f} |",
            *[f"| {name} (zero parameters, the chip's own bands) | {iou:.3f} |"
              for name, iou in base.items()]]
    best = max(base, key=base.get)
    verdict = (f"The best zero-parameter baseline ({best}, {base[best]:.3f}) beats this model "
               "on the chip: where the scene has near- or short-wave infrared bands, a water "
               "index is the better map today." if base[best] > chip["water_iou"] else
               f"This model beats every zero-parameter baseline on the chip (best: {best}, "
               f"{base[best]:.3f}).")
    return ["| Sen1Floods11 chip, water IoU | |", "|---|---:|", *rows, "", verdict,
            "(`python -m model_export.evaluation.chip_baselines`; `make demo` prints the same.)"]


def calibration_lines(summary: dict[str, Any]) -> list[str]:
    cal = summary["calibration"]
    t = cal["temperature"]
    return [
        f"The confidence output is softmax(logits / {t:.3f}): the temperature was fitted on the "
        f"out-of-fold predictions of the recipe's grouped cross-validation ({cal['pixels']} "
        "pixels, every 4th in each direction), never on the test split.",
        f"- Expected calibration error on held-out folds (temperature fitted on the other "
        f"folds): {_pct(cal['cv_ece_before'], 2)} % before, {_pct(cal['cv_ece_after'], 2)} % "
        "after.",
        f"- On the OMBRIA test split, this model: {_pct(cal['test_ece_before'], 2)} % before, "
        f"{_pct(cal['test_ece_after'], 2)} % after (reported only).",
    ]


def architecture_text(meta: dict[str, Any], summary: dict[str, Any]) -> str:
    arch = meta["model"].get("architecture", {})
    dims = "-".join(str(d) for d in arch.get("dims", []))
    text = (f"UPSeg `{meta['model']['variant']}` ({dims} channels): modality stems, a shared "
            "4-stage ConvNeXt-style backbone (strides 4-32), a Variance Enhancement Module and "
            "bidirectional cross-modal prompts at every stage, an all-MLP fusion decoder; "
            "trained from scratch (no pretrained remote-sensing weights can be fetched here). ")
    if arch.get("input_tile_contrast"):
        text += ("Every input band also enters standardised within its own tile "
                 "(`model_export/models/tile_contrast.py`), a copy that does not change under a "
                 "band's gain and offset: the conversion error of `docs/rendering_check.md` "
                 "cannot move it. ")
    return text + (f"{summary['export']['size_bytes'] / 1e6:.2f} MB (fp32, opset "
                   f"{summary['export']['opset']}).")


def chip_limit(chip: dict[str, Any] | None) -> list[str]:
    """What the raw-scene check says about the model's bias, in the card's words."""
    if not chip:
        return []
    pred, lab = chip["predicted_water_fraction"], chip["labelled_water_fraction"]
    way = ("misses labelled water (shallow water in fields that is not dark in the SAR)"
           if pred < lab else "calls more water than the label has")
    return [f"- On the raw Sen1Floods11 chip it predicts {100 * pred:.0f} % water where the "
            f"hand label has {100 * lab:.0f} %: it {way}; water IoU "
            f"{chip['water_iou']:.2f}."]


def permanent_water_text(rec: dict[str, Any]) -> str:
    """What training made of the pre-event water OMBRIA's masks leave out."""
    how = rec.get("permanent_water", "ignore")  # cards before the option was recorded: ignore
    if how == "water":
        return ("The product maps all open water, so the pre-event water found in OMBRIA's "
                "pre-event images is labelled water in training: a river is water.")
    if how == "ignore":
        return ("A model that sees one date cannot tell a river from a flood, so the pre-event "
                "water found in OMBRIA's pre-event images is left out of the loss: the model "
                "maps water as it looks.")
    return ("Training keeps OMBRIA's labels as published, so permanent rivers and lakes were "
            "taught as not water: the model may miss them.")


def training_text(meta: dict[str, Any], rec: dict[str, Any]) -> str:
    return (
        f"OMBRIA `train/` (all {rec['train_patches']} patches, real Sentinel-1 + Sentinel-2 "
        f"after flood events, 256x256, ~10 m); {rec['epochs']} epochs, seed {rec['seed']}, the "
        "last epoch (the recipe and its length were chosen by grouped cross-validation, so no "
        "patch is held out here). " + rec["pretrain_text"] + " Augmentations for what differs "
        "between scenes: random 128 px crops, flips and rotations; per-band gain and offset of "
        "both modalities; haze (top-of-atmosphere offsets up to 55 grey levels), gamma; SAR "
        "speckle or speckle filtering, incidence-like brightness shifts and ramps; ground "
        "sample distance 5-20 m and coarser SAR or optical; partial cloud with shadow; "
        "nodata regions (`configs/ombria_upseg_tiny_robust.yaml`, "
        "`model_export/data/robust_augment.py`; ranges from `docs/rendering_check.md`). "
        f"Cite: {meta['training']['dataset_citation']}. Licence of the data: "
        f"{meta['training']['dataset_licence']}.")


def input_lines(meta: dict[str, Any]) -> list[str]:
    opt, sar = meta["inputs"]["optical"], meta["inputs"]["sar"]

    def conv(block: dict[str, Any]) -> str:
        return "; ".join(f"`{c['from']}`: {c.get('description', '')}"
                         for c in block["conversions"]) or "none"

    return [
        f"- Optical: {', '.join(b['description'] for b in opt['bands'])}; native units "
        f"`{opt['units']}`; conversions: {conv(opt)}.",
        f"- SAR: {', '.join(b['description'] for b in sar['bands'])}; native units "
        f"`{sar['units']}`; conversions: {conv(sar)}.",
        "- Both conversions are a centre, not a truth: OMBRIA's own stretch moves by tens of "
        "grey levels between scenes, and L1C is hazier than L2A (`docs/rendering_check.md`); "
        "training randomises around them. The metadata also carries the training patches' "
        "ranges, and `upseg:segment` warns when a layer, once converted, lies far outside them.",
        f"- Ground sample distance about {meta['gsd_m']:g} m; tiles of "
        f"{meta['tiling']['tile_size']} px with {meta['tiling']['overlap']} px overlap."]


def limit_lines(summary: dict[str, Any]) -> list[str]:
    return [
        "- A few dozen flood scenes of one dataset: expect errors on landscapes it has not seen "
        "(radar shadow in mountains, dry sand and tarmac dark in SAR, snow, urban double "
        "bounce). Check the confidence output; low confidence marks such places.",
        "- Flooded vegetation and wind-roughened water are bright in SAR; under cloud the model "
        "has only the SAR to go on.",
        "- Sentinel-2 products of processing baseline 04.00 and later (from January 2022) store "
        "reflectance x 10000 + 1000: the plugin removes the offset when the file's metadata "
        "says so; otherwise set OPTICAL_UNITS to reflectance_x10000_offset1000, or the scene "
        "looks hazy to the model.",
        *chip_limit(summary.get("sen1floods11"))]


def write_card(path: Path, summary: dict[str, Any]) -> None:
    meta = summary["metadata"]
    lines = [
        f"# Model card: {meta['model']['name']} ({meta['model']['variant']}, "
        f"v{meta['model']['version']})", "",
        "The default model embedded in the UPSeg QGIS plugin. Produced by `make model` "
        f"(git {summary['git_revision']}); every number below was written by that command.", "",
        "## What it maps",
        "**Open water at the time of the images, flood water and permanent water alike**, from a "
        "Sentinel-2 optical layer (red, green, blue) and a Sentinel-1 SAR layer (one band, VV "
        "where the file says so) of the same date. Classes: " + ", ".join(
            f"{c['value']} = {c['name']} ({c['colour']})" for c in meta["classes"])
        + f"; {meta['nodata_value']} = no data (either input missing).",
        "",
        "OMBRIA's masks mark the *flooded* area only: of the pixels dark in the SAR both before "
        "and after the event (permanent water) 14 % are in the mask, of those that turned dark "
        "88 % (`model_export/data/permanent_water.py`). "
        + permanent_water_text(summary["recipe"]) + " To map *flooding*, subtract a pre-event "
        "water map.", "",
        "## Old and new, side by side", "", *comparison_table(summary), "",
        "*Grouped CV* trains the recipe on three spatial folds of OMBRIA `train/` and scores the "
        "fourth, so the scored places were never seen (`docs/validation.md`); it is what chose "
        "this recipe. The test split shares places with `train/`, so it measures the familiar "
        "case. The Sen1Floods11 chip was never used to choose anything.", "",
        "## Against the raster calculator", "", *baseline_lines(summary), "",
        "## Calibration", *calibration_lines(summary), "",
        "## Architecture", architecture_text(meta, summary), "",
        "## Training", training_text(meta, summary["recipe"]), "",
        "## Input expectations (from the metadata, which the plugin applies)",
        *input_lines(meta), "",
        "## Limits", *limit_lines(summary), "",
        f"## Licence and citation\nCode: {meta['licence']}. Method: {meta['citation']}.", "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
