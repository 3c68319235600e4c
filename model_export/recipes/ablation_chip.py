"""The Sen1Floods11 chip score of an ablation run, reported beside its fold score and never used
to choose: the run's scored checkpoint exported to ONNX (fp32) and run through the plugin's own
pipeline on the raw chip (`evaluation.chip_check`). Stored in the run's result file once."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any


def add_chip_score(result: dict[str, Any], run_dir: Path, split: str) -> dict[str, Any]:
    """`result` with `chip` (water IoU etc., or None without the chip), computed once."""
    if "chip" in result:
        return result
    from model_export.evaluation.chip_check import sen1floods11_check
    from model_export.export.onnx_export import export_checkpoint, export_options

    checkpoint = run_dir / ("last.pt" if result.get("scored") == "last" else "best.pt")
    with tempfile.TemporaryDirectory(dir=run_dir) as tmp:
        onnx_path = Path(tmp) / "run.onnx"
        # No input statistics: they only feed the plugin's warnings, and reading the training
        # split for them would cost more than the chip run.
        export_checkpoint(checkpoint, onnx_path, export_options(
            "ablation_run", "0.0.0", parity_patches=2, input_statistics=False))
        result["chip"] = sen1floods11_check(onnx_path, None)
    (run_dir / f"ablation_{split}.json").write_text(json.dumps(result, indent=2))
    return result
