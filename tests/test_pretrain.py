"""Cross-modal pretraining on unlabelled pairs, its hand-over to training, and training with no
validation split (how `make model` trains the final model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from model_export.training.pretrain import dense_infonce, pretrain
from model_export.training.train import load_config, run
from tests.test_data_ombria import _png, make_ombria


def _with_before_images(root: Path) -> Path:
    rng = np.random.default_rng(5)
    for s1 in (root / "train" / "S1").glob("S1_after_*.png"):
        i = s1.stem.split("_")[-1]
        _png(root / "train" / "S1_before" / f"S1_before_{i}.png",
             rng.integers(0, 255, (32, 32), dtype=np.uint8))
        _png(root / "train" / "S2_before" / f"S2_before_{i}.png",
             rng.integers(0, 255, (3, 32, 32), dtype=np.uint8))
    return root


def test_infonce_prefers_aligned_views() -> None:
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(2, 8, 4, 4), dim=1)
    aligned = dense_infonce(a, a, 0.1)
    shuffled = dense_infonce(a, a.flip(-1), 0.1)
    assert aligned < shuffled


def test_pretrain_then_train_without_validation(tmp_path: Path, torch_one_thread) -> None:
    root = _with_before_images(make_ombria(tmp_path / "ombria", n_train=6, size=32))
    cfg = load_config(None, [
        f"data.root={root}", "data.options.val_scheme=none", "data.batch_size=4",
        "data.augment.crop=32", "model.name=upseg_tiny", "train.epochs=2", "progress=false",
        f"output_dir={tmp_path / 'run'}", "threads=1", "pretrain.epochs=1",
        "pretrain.batch_size=4", "pretrain.crop=32"])
    summary = pretrain(cfg, tmp_path / "pre.pt")
    assert summary["pairs"] == 12  # 6 patches x (before, after)
    state = torch.load(tmp_path / "pre.pt", weights_only=True)
    assert state and all(k.startswith(("stems.", "backbone.")) for k in state)

    from model_export.models import build_model
    from model_export.training.checkpoint import init_from_state

    fresh = build_model("upseg_tiny", in_channels_optical=3, in_channels_sar=1, num_classes=2)
    loaded = init_from_state(fresh, str(tmp_path / "pre.pt"))
    assert set(loaded) == set(state)  # every pretrained tensor found its place
    assert torch.equal(fresh.state_dict()[loaded[0]], state[loaded[0]])

    cfg["model"]["init_from"] = str(tmp_path / "pre.pt")
    out = run(cfg)
    assert out["epochs"] == 2 and out["best_epoch"] == 2  # no validation: the last epoch
    best = torch.load(out["best_checkpoint"], weights_only=False)
    assert best["epoch"] == 2
