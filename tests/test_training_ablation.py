"""The ablation command on a micro SYNTHETIC budget (the real OMBRIA ablation is not a test)."""

from __future__ import annotations

from pathlib import Path

import yaml

from model_export.training.ablation import main

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
