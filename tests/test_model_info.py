"""`python -m model_export info` prints parameter counts and FLOPs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model_export.models import build_model, count_parameters
from model_export.models.info import main

ROOT = Path(__file__).resolve().parents[1]


def test_cli_prints_counts_for_every_variant() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "model_export", "info", "--size", "64", "64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    tiny = f"{count_parameters(build_model('upseg_tiny')):,}"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("upseg_tiny "))
    assert tiny in line
    assert "late_fusion_tiny" in proc.stdout and "upseg_base" in proc.stdout


def test_json_output_and_frozen_trainable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upseg_tiny", "optical_only_tiny", "--size", "32", "48", "--json"]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [r["model"] for r in rows] == ["upseg_tiny", "optical_only_tiny"]
    assert all(r["gmacs"] > 0 and r["params"] == r["trainable"] for r in rows)
    assert rows[0]["params"] > rows[1]["params"]
    assert torch.is_grad_enabled()  # no global side effect on the caller

    assert main(["upseg_tiny", "--size", "32", "32", "--json", "--freeze-backbone"]) == 0
    row = json.loads(capsys.readouterr().out)
    backbone = count_parameters(build_model("upseg_tiny").backbone)
    assert row["trainable"] == row["params"] - backbone


def test_unknown_model_is_an_error() -> None:
    with pytest.raises(SystemExit):
        main(["nope_tiny"])
