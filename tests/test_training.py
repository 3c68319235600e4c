"""Training loop, checkpoints, resume, evaluation command (tiny SYNTHETIC and OMBRIA runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from model_export.__main__ import main as cli
from model_export.data import build_dataset
from model_export.data._io import default_data_root
from model_export.data.transforms import build_transforms
from model_export.evaluation.evaluate import evaluate_model, select_metric
from model_export.training.checkpoint import CHECKPOINT_KEYS, load_checkpoint, load_for_inference
from model_export.training.losses import (
    CEDiceLoss,
    DiceLoss,
    build_loss,
    class_weights_from_counts,
)
from model_export.training.train import apply_overrides, build_model_for, load_config, run
from tests.conftest import require_shared_data

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "model_export" / "configs" / "synthetic_smoke.yaml"


def _cfg(out: Path, *overrides: str) -> dict[str, Any]:
    return load_config(SMOKE, [f"output_dir={out}", "progress=false", "threads=1",
                               "data.options.num_samples={train: 12, val: 4, test: 4}",
                               *overrides])


def test_losses() -> None:
    logits = torch.zeros(1, 2, 2, 2, requires_grad=True)
    target = torch.tensor([[[0, 1], [255, 255]]])
    loss = CEDiceLoss()(logits, target)
    assert loss.item() == pytest.approx(math.log(2) + 0.5 * 1 / 1.5 * 0 + DiceLoss()(
        logits, target).item(), rel=1e-5)
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad[..., 1, :] == 0)  # ignored pixels
    perfect = torch.tensor([[[[9.0, -9.0]], [[-9.0, 9.0]]]])
    assert DiceLoss()(perfect, torch.tensor([[[0, 1]]])).item() < 1e-3
    w = class_weights_from_counts([300, 100, 0])
    assert w[2] == 0.0 and w[1] > w[0] and np.mean(w[:2]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        build_loss({"loss": "focal"}, None)


def test_overrides() -> None:
    cfg = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d=null", "e=iou:water"])
    assert cfg == {"a": {"b": 2, "c": [1, 2]}, "d": None, "e": "iou:water"}


def _train_loss(cfg: dict[str, Any], model: torch.nn.Module, stats: dict) -> float:
    """Loss on the training patches without augmentation (what one epoch should lower)."""
    ds = build_dataset(cfg["data"], "train")
    ds.transform = build_transforms(None, ds.spec, stats, train=False)
    crit = build_loss(cfg["train"], None)
    res = evaluate_model(model, DataLoader(ds, batch_size=4), ds.spec.num_classes, 255,
                         criterion=crit)
    return res["loss"]


def test_one_epoch_lowers_loss_and_checkpoint_contract(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path / "run", "train.epochs=1")
    summary = run(cfg)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert set(CHECKPOINT_KEYS) <= set(ckpt)
    assert ckpt["model_name"] == "upseg_tiny" and ckpt["epoch"] == 1 and ckpt["seed"] == 0
    assert ckpt["dataset"]["classes"][1] == {"value": 1, "name": "water", "colour": "#0070ff"}
    assert ckpt["dataset"]["ignore_index"] == 255 and ckpt["dataset"]["sar_units"] == "sar_db"
    assert len(ckpt["normalisation"]["optical"]["mean"]) == 4
    assert len(ckpt["normalisation"]["sar"]["std"]) == 1
    assert ckpt["config"]["train"]["epochs"] == 1 and "miou" in ckpt["val_metrics"]
    assert ckpt["best_metric"] == pytest.approx(summary["best_metric"])
    for name in ("best.pt", "log.csv", "log.json", "curves.png", "config.yaml", "summary.json",
                 "train_stats.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert "val_iou_water" in (tmp_path / "run" / "log.csv").read_text().splitlines()[0]

    # Same initial weights (init_seed) as the run, before any step: the epoch lowered the loss.
    spec = build_dataset(cfg["data"], "train").spec
    fresh, _ = build_model_for(cfg, spec)
    before = _train_loss(cfg, fresh, ckpt["normalisation"])
    model, _ = load_for_inference(tmp_path / "run" / "last.pt")
    after = _train_loss(cfg, model, ckpt["normalisation"])
    assert after < before, (before, after)


def test_resume_continues_state(tmp_path: Path) -> None:
    # Interrupted after epoch 1 of a 2-epoch schedule, then resumed.
    run(_cfg(tmp_path / "a", "train.epochs=2", "train.stop_after_epochs=1"))
    first = load_checkpoint(tmp_path / "a" / "last.pt")
    assert first["epoch"] == 1
    summary = run(_cfg(tmp_path / "a", "train.epochs=2"), resume="auto")
    resumed = load_checkpoint(tmp_path / "a" / "last.pt")
    assert resumed["epoch"] == 2 and summary["epochs"] == 2
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["history"][0] == first["history"][0]  # epoch 1 is not redone
    steps = resumed["scheduler"]["last_epoch"] // 2
    assert first["scheduler"]["last_epoch"] == steps > 0  # scheduler continued, not restarted
    adam_step = next(iter(resumed["optimizer"]["state"].values()))["step"]
    assert int(adam_step) == 2 * steps
    # Same result as an uninterrupted 2-epoch run.
    run(_cfg(tmp_path / "b", "train.epochs=2"))
    straight = load_checkpoint(tmp_path / "b" / "last.pt")
    for k, v in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][k], v, rtol=1e-4, atol=1e-5)
    with pytest.raises(FileNotFoundError):
        run(_cfg(tmp_path / "c"), resume=str(tmp_path / "nope.pt"))


def test_cli_train_and_evaluate(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    rc = cli(["train", "--config", str(SMOKE), "--output-dir", str(out), "--no-progress",
              "--threads", "1", "--set", "train.epochs=1",
              "--set", "data.options.num_samples={train: 8, val: 4, test: 4}"])
    assert rc == 0 and (out / "best.pt").is_file()
    rc = cli(["evaluate", "--checkpoint", str(out / "best.pt"), "--split", "test",
              "--out", str(tmp_path / "eval")])
    assert rc == 0
    report = json.loads((tmp_path / "eval" / "best_test.json").read_text())
    for key in ("oa", "mpa", "miou", "fwiou", "kappa", "pa", "iou", "f1", "confusion_matrix"):
        assert key in report
    assert report["split"] == "test" and report["num_samples"] == 4
    assert np.sum(report["confusion_matrix"]) == report["num_pixels"] > 0
    assert "| water |" in (tmp_path / "eval" / "best_test.md").read_text()
    assert (tmp_path / "eval" / "best_test_confusion.png").stat().st_size > 1000
    assert select_metric(report, "iou:water") == report["iou"][1]


REAL = default_data_root() / "ombria"


def test_ombria_config_smoke(tmp_path: Path) -> None:
    require_shared_data("ombria/train/S1")  # fails, never skips, when the data is missing
    cfg = load_config(REPO / "model_export" / "configs" / "ombria_upseg_tiny.yaml", [
        f"output_dir={tmp_path}", "progress=false", "threads=1", "train.epochs=1",
        "data.max_samples={train: 8, val: 2}", "data.augment.crop=64", "data.batch_size=4"])
    summary = run(cfg)
    ckpt = load_checkpoint(summary["last_checkpoint"])
    assert ckpt["dataset"]["name"] == "ombria" and ckpt["dataset"]["optical_units"] == (
        "uint8_rendering")
    assert ckpt["config"]["train"]["select_metric"] == "iou:water"
    assert 0 < ckpt["normalisation"]["sar"]["mean"][0] < 255
