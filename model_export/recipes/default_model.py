"""`make model`: the embedded default model, end to end.

1. Grouped cross-validation of the default recipe and of the previous default's recipe
   (``python -m model_export cv``; finished folds are reused): chooses nothing here, but gives
   the card its generalisation numbers and the temperature its held-out data.
2. The final model: the default recipe on every patch of OMBRIA ``train/`` (self-supervised
   pretraining first when the recipe's candidate says so), its last epoch.
3. Temperature scaling fitted on the cross-validation's out-of-fold logits.
4. Test-split evaluation (torch and the exported ONNX file), the SAR Otsu baseline, export with
   calibration and training input statistics into the plugin, the plugin's own pipeline on the
   Sen1Floods11 chip (plain and with TTA; reported only), and the model card.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from model_export.evaluation.calibration import expected_calibration_error
from model_export.evaluation.chip_baselines import chip_baselines
from model_export.evaluation.chip_check import sen1floods11_check
from model_export.evaluation.onnx_eval import evaluate_onnx, evaluate_otsu

from ..export.model_card import write_card
from ..export.onnx_export import export_checkpoint, export_options, onnx_metadata

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "upseg_qgis" / "models" / "upseg_default.onnx"
CV_CONFIG = ROOT / "model_export" / "configs" / "grouped_cv.yaml"
CARD_NAME = "MODEL_CARD.md"
SUMMARY_NAME = "default_model_summary.json"
OLD_RECIPE = "baseline"  # the grouped-CV candidate holding the previous default's recipe


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cv_summary(spec: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any] | None:
    from model_export.evaluation.cv_report import _ms

    if not results:
        return None
    iou = lambda r, kind, ref: r["scores"][kind][ref]["iou"][1]  # noqa: E731
    return {"folds": len(results),
            "water_iou": _ms([iou(r, "plain", "trained") for r in results]),
            "water_iou_published": _ms([iou(r, "plain", "published") for r in results]),
            "water_iou_tta": _ms([iou(r, "tta", "trained") for r in results]),
            "otsu": _ms([iou(r, "otsu", "trained") for r in results]),
            "chip": _ms([(r.get("sen1floods11") or {}).get("water_iou", float("nan"))
                         for r in results])}


def _previous(model: Path, version: str) -> dict[str, Any]:
    """Key numbers of the model this run replaces (kept when re-running the same version)."""
    path = model.parent / SUMMARY_NAME
    if not path.is_file() or not model.is_file():
        return {}
    old = json.loads(path.read_text())
    if old.get("version") == version:
        return old.get("previous") or {}
    target = evaluate_onnx(model, "ombria", "test", options={"permanent_water": "ignore"})
    return {"version": old.get("version", "0.1.0"),
            "onnx_test_water_iou": old["onnx_test"]["iou"][1],
            "onnx_test_target_water_iou": target["iou"][1],
            "sen1floods11": old.get("sen1floods11"), "size_bytes": old["export"]["size_bytes"]}


def update_catalogue(model: Path) -> None:
    """Point the shipped catalogue's embedded entry at the new file (version, size, SHA-256,
    summary and metrics from the file itself); the previous version leaves the catalogue, as
    it leaves the plugin."""
    from upseg_qgis.core.models.catalogue import parse_catalogue
    from upseg_qgis.core.models.catalogue_tools import entry_from_model

    path = model.parent / "catalogue.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    old = next(m for m in data["models"] if m.get("embedded"))
    meta = onnx_metadata(model)
    url = old["urls"][0].rsplit("/models-v", 1)[0] + f"/models-v{meta['model']['version']}/"
    entry = entry_from_model(model, old["id"], [url + model.name], name=old["name"],
                             description=meta["model"]["description"], file_name=model.name)
    entry.update(embedded=True, homepage=old["homepage"], notes=old["notes"])
    data["models"] = [m if m is not old else entry for m in data["models"]
                      if m is old or m.get("id") != old["id"]]
    parse_catalogue(data, str(path), allow_embedded=True)  # never write an invalid catalogue
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model_export.recipes.default_model",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cv-config", default=str(CV_CONFIG))
    p.add_argument("--run", default=str(ROOT / "runs" / "default_model"),
                   help="folder of the final training runs: one sub-folder per recipe, "
                   "reused when finished (another recipe never resumes it)")
    p.add_argument("--output", default=str(DEFAULT_OUTPUT))
    p.add_argument("--model-version", default="0.2.0")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--skip-cv", action="store_true",
                   help="use the cross-validation results already stored, train no fold")
    return p


def main(argv: list[str] | None = None) -> int:
    from model_export.recipes import final_model

    args = _parser().parse_args(argv)
    out = Path(args.output)
    spec, cv = final_model.cross_validate(Path(args.cv_config), [OLD_RECIPE],
                                          args.threads, args.skip_cv)
    default = spec["default_candidate"]
    ckpt, recipe = final_model.train_final(spec, default, Path(args.run) / default, args.threads)
    temperature, cal = final_model.temperature_from_cv(spec, default)
    test = final_model.test_scores(ckpt)
    cal.update(test_ece_before=expected_calibration_error(*test["calibration"]),
               test_ece_after=expected_calibration_error(*test["calibration"], temperature))
    otsu_test = evaluate_otsu("ombria", "test")
    previous = _previous(out, args.model_version)
    export = export_checkpoint(ckpt, out, export_options(
        "upseg_tiny_ombria_water", args.model_version,
        description="UPSeg-tiny trained on OMBRIA: open water (flood and permanent) vs not "
        "water from Sentinel-2 RGB + Sentinel-1, robust to scene differences.",
        test_metrics={"split": "ombria test (70 patches)",
                      **{k: test["published"][k] for k in ("oa", "mpa", "miou", "fwiou", "kappa",
                                                           "mf1", "iou", "pa", "f1",
                                                           "class_names", "num_pixels")},
                      "water_iou": test["published"]["iou"][1],
                      "water_iou_pre_event_water_ignored": test["target"]["iou"][1]},
        calibration={"temperature": temperature, "method": "temperature scaling",
                     "fitted_on": "out-of-fold logits of grouped cross-validation",
                     "ece_before": cal["cv_ece_before"], "ece_after": cal["cv_ece_after"]}))
    summary = {
        "version": args.model_version, "git_revision": _git_revision(), "export": export,
        "recipe": recipe, "torch_test": test["published"], "test_target": test["target"],
        "onnx_test": evaluate_onnx(out, "ombria", "test"), "otsu_test": otsu_test,
        "calibration": cal, "cv": {"new_recipe": cv_summary(spec, cv.get(default, [])),
                                   "old_recipe": cv_summary(spec, cv.get(OLD_RECIPE, []))},
        "sen1floods11": sen1floods11_check(out, None),
        "sen1floods11_tta": sen1floods11_check(out, None, tta="flips"),
        "chip_baselines": chip_baselines(), "previous": previous, "metadata": onnx_metadata(out)}
    (out.parent / SUMMARY_NAME).write_text(json.dumps(
        {k: v for k, v in summary.items() if k != "metadata"}, indent=1, default=str) + "\n")
    write_card(out.parent / CARD_NAME, summary)
    update_catalogue(out)
    from model_export.evaluation.cv_report import write_report

    cv_config = Path(args.cv_config).resolve()
    shown = cv_config.relative_to(ROOT) if cv_config.is_relative_to(ROOT) else cv_config
    write_report(spec, cv, ["--config", str(shown)])
    print(f"wrote {out} ({export['size_bytes'] / 1e6:.2f} MB) and {out.parent / CARD_NAME}")
    print(f"water IoU: OMBRIA test (ONNX) {summary['onnx_test']['iou'][1]:.4f}, chip "
          f"{(summary['sen1floods11'] or {}).get('water_iou', float('nan')):.3f}, grouped CV "
          f"{summary['cv']['new_recipe']['water_iou'][0]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
