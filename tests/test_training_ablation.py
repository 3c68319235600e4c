"""The ablation command on a micro SYNTHETIC budget (the real OMBRIA ablation is not a test)."""

from __future__ import annotations

from pathlib import Path

import yaml

from model_export.recipes.ablation import main

REPO = Path(__file__).resolve().parents[1]


def test_micro_ablation_writes_report(tmp_path: Path) -> None:
    cfg = {
        "base_config": str(REPO / "model_export" / "configs" / "synthetic_smoke.yaml"),
        "variants": ["upseg_tiny", "sar_only_tiny"],
        "seeds": [0, 1],
        "split": "test",
        "output_dir": str(tmp_path / "runs"),
        "report": str(tmp_path / "ablation.md"),
        "overrides": ["train.epochs=1", "progress=false", "threads=1",
                      "data.options.num_samples={train: 4, val: 2, test: 2}"],
    }
    (tmp_path / "abl.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(tmp_path / "abl.yaml")]) == 0
    text = (tmp_path / "ablation.md").read_text()
    assert "python -m model_export ablation --config" in text
    assert "| `upseg_tiny` |" in text and "| `sar_only_tiny` |" in text
    assert text.count(" ± ") >= 8 and "Verdict (computed)" in text
    # Finished runs are reused: a second invocation trains nothing and gives the same table.
    before = (tmp_path / "runs" / "upseg_tiny" / "seed0" / "last.pt").stat().st_mtime
    assert main(["--config", str(tmp_path / "abl.yaml")]) == 0
    assert (tmp_path / "runs" / "upseg_tiny" / "seed0" / "last.pt").stat().st_mtime == before


def test_verdict_on_constructed_results() -> None:
    """The verdict logic on hand-made means and spreads (fractions), every branch."""
    from model_export.recipes.ablation import verdict

    variants = ["upseg_tiny", "concat_tiny", "sar_only_tiny"]
    means = {"upseg_tiny": 0.80, "concat_tiny": 0.78, "sar_only_tiny": 0.60}
    calm = dict.fromkeys(variants, 0.005)
    text = verdict(means, calm, variants)
    assert text == "`upseg_tiny` has the highest mean water IoU, +2.00 points over `concat_tiny`."
    # The same lead within the spread over seeds: said to be no evidence.
    noisy = {**calm, "concat_tiny": 0.03}
    assert "within one standard deviation over seeds (3.00 points)" in verdict(means, noisy,
                                                                              variants)
    # Another variant leads: the margin and UPSeg's rank.
    behind = {**means, "sar_only_tiny": 0.81}
    text = verdict(behind, calm, variants)
    assert text.startswith("`upseg_tiny` does **not** have the highest mean water IoU: "
                           "`sar_only_tiny` leads by 1.00 points (rank of `upseg_tiny`: 2 of 3)")
    # A variant without results (NaN) ranks last; without upseg_tiny, the first variant is UPSeg.
    gone = {**means, "upseg_tiny": float("nan")}
    assert "rank of `upseg_tiny`: 3 of 3" in verdict(gone, calm, variants)
    assert verdict({"a": 0.5, "b": 0.4}, {"a": 0.0, "b": 0.0}, ["a", "b"]).startswith(
        "`a` has the highest")


def test_last_epoch_scoring_validates_once_and_matches_a_fresh_evaluation(tmp_path: Path) -> None:
    """`score_checkpoint: last` with `train.validate=last`: only the final epoch is validated, and
    the score the ablation stores is what evaluating the last checkpoint afresh gives."""
    import json
    import math

    from model_export.evaluation.evaluate import evaluate_checkpoint

    cfg = {
        "base_config": str(REPO / "model_export" / "configs" / "synthetic_smoke.yaml"),
        "variants": ["upseg_tiny"], "seeds": [0], "split": "val", "score_checkpoint": "last",
        "output_dir": str(tmp_path / "runs"), "report": str(tmp_path / "ablation.md"),
        "overrides": ["train.epochs=2", "train.validate=last", "progress=false", "threads=1",
                      "data.options.num_samples={train: 4, val: 3, test: 2}"],
    }
    (tmp_path / "abl.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(tmp_path / "abl.yaml")]) == 0
    run = tmp_path / "runs" / "upseg_tiny" / "seed0"
    history = json.loads((run / "log.json").read_text())
    history = history["history"] if isinstance(history, dict) else history
    first, last = history[0]["val_miou"], history[1]["val_miou"]
    assert (first is None or math.isnan(first)) and last is not None and not math.isnan(last)
    stored = json.loads((run / "ablation_val.json").read_text())
    fresh = evaluate_checkpoint(run / "last.pt", "val")
    assert stored["scored"] == "last" and stored["best_epoch"] == 2
    assert stored["test"]["iou"] == fresh["iou"] and stored["test"]["miou"] == fresh["miou"]
    assert "the **last** epoch is scored" in (tmp_path / "ablation.md").read_text()


def test_a_row_can_be_a_model_under_its_own_recipe_and_seeds(tmp_path: Path) -> None:
    """`model@recipe` rows: the model's architecture, the row's own overrides and seeds, its own
    runs and its own line in the table."""
    import json

    cfg = {
        "base_config": str(REPO / "model_export" / "configs" / "synthetic_smoke.yaml"),
        "variants": ["upseg_tiny", "upseg_tiny@two_epochs"], "seeds": [0, 1], "split": "test",
        "variant_overrides": {"upseg_tiny@two_epochs": ["train.epochs=2"]},
        "variant_seeds": {"upseg_tiny@two_epochs": [0]},
        "chip_rows": ["upseg_tiny@two_epochs"],
        "output_dir": str(tmp_path / "runs"), "report": str(tmp_path / "ablation.md"),
        "overrides": ["train.epochs=1", "progress=false", "threads=1",
                      "data.options.num_samples={train: 4, val: 2, test: 2}"],
    }
    (tmp_path / "abl.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(tmp_path / "abl.yaml")]) == 0
    row = tmp_path / "runs" / "upseg_tiny@two_epochs"
    assert sorted(p.name for p in row.iterdir()) == ["seed0"]
    run_cfg = yaml.safe_load((row / "seed0" / "config.yaml").read_text())
    assert run_cfg["model"]["name"] == "upseg_tiny" and run_cfg["train"]["epochs"] == 2
    stored = json.loads((row / "seed0" / "ablation_test.json").read_text())
    assert stored["model"] == "upseg_tiny@two_epochs"
    # chip_rows: the real Sen1Floods11 chip through the plugin's pipeline, stored with the run.
    assert 0.0 <= stored["chip"]["water_iou"] <= 1.0
    assert 0.0 <= stored["chip"]["predicted_water_fraction"] <= 1.0
    assert "chip" not in json.loads((tmp_path / "runs" / "upseg_tiny" / "seed0" /
                                     "ablation_test.json").read_text())
    text = (tmp_path / "ablation.md").read_text()
    assert "| `upseg_tiny@two_epochs` |" in text and "| `upseg_tiny` |" in text
