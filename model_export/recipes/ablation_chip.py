"""The Sen1Floods11 chip score of an ablation run, reported beside its fold score and never used
to choose: the run's scored checkpoint exported to ONNX (fp32) and run through the plugin's own
pipeline on the raw chip (`evaluation.chip_check`). Stored in the run's result file once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def add_chip_score(result: dict[str, Any], run_dir: Path, split: str) -> dict[str, Any]:
    """`result` with `chip` (water IoU etc., or None without the chip), computed once."""
    if "chip" in result:
        return result
    from model_export.evaluation.chip_check import checkpoint_chip_check

    checkpoint = run_dir / ("last.pt" if result.get("scored") == "last" else "best.pt")
    # No input statistics: they only feed the plugin's warnings, and reading the training split
    # for them would cost more than the chip run.
    result["chip"] = checkpoint_chip_check(checkpoint, run_dir, parity_patches=2,
                                           input_statistics=False)
    (run_dir / f"ablation_{split}.json").write_text(json.dumps(result, indent=2))
    return result
