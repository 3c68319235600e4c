"""DDP through PyTorch's own launcher: 2 CPU processes on gloo, tiny SYNTHETIC patches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from model_export.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]


def test_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "model_export", "train",
           "--config", str(REPO / "model_export" / "configs" / "synthetic_smoke.yaml"),
           "--output-dir", str(out), "--device", "cpu", "--no-progress",
           "--set", "train.epochs=1", "--set", "data.batch_size=2",
           "--set", "data.options.num_samples={train: 8, val: 3, test: 2}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "2 process(es)" in log and "2 steps/epoch" in log  # 8 samples / 2 ranks / bs 2
    assert log.count("[train] epoch 1/1") == 1  # only rank 0 reports
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 1 and not any(k.startswith("module.") for k in ckpt["state_dict"])
    # Validation is sharded without padding (3 patches on 2 ranks) and summed: every pixel
    # counted exactly once.
    assert ckpt["val_metrics"]["num_pixels"] == 3 * 64 * 64
    assert ckpt["val_metrics"]["num_samples"] == 3
