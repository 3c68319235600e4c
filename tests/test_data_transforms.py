"""Aligned augmentations, normalisation and training-split statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_export.data.spec import OMBRIA_SPEC
from model_export.data.stats import compute_band_stats, load_stats, save_stats
from model_export.data.synthetic import SyntheticDataset
from model_export.data.transforms import (
    Compose,
    Normalise,
    RandomCrop,
    RandomFlip,
    RandomGainOffset,
    RandomRot90,
    build_transforms,
)


def _sample(h: int = 8, w: int = 6) -> dict:
    label = torch.arange(h * w).reshape(h, w) % 200
    return {"optical": torch.stack([label.float(), label.float() * 2, label.float() + 1]),
            "sar": label.float()[None] - 5, "label": label, "id": "x"}


def _aligned(s: dict) -> bool:
    lab = s["label"].float()
    return (torch.equal(s["optical"][0], lab) and torch.equal(s["optical"][1], lab * 2)
            and torch.equal(s["sar"][0], lab - 5))


def test_geometric_transforms_keep_alignment() -> None:
    torch.manual_seed(0)
    t = Compose([RandomFlip(1.0), RandomRot90(), RandomCrop(5)])
    shapes = set()
    for _ in range(20):
        s = t(_sample())
        assert _aligned(s) and s["label"].shape == (5, 5) and s["id"] == "x"
        shapes.add(tuple(s["label"][0, :2].tolist()))
    assert len(shapes) > 3  # the transforms are actually random
    rot = RandomRot90()
    torch.manual_seed(1)
    s = rot(_sample())
    assert _aligned(s) and s["label"].shape in {(8, 6), (6, 8)}


def test_crop_pads_with_ignore() -> None:
    s = RandomCrop(10)(_sample(8, 6))
    assert s["label"].shape == (10, 10) and s["optical"].shape == (3, 10, 10)
    assert (s["label"] == 255).sum() == 100 - 48


def test_gain_offset_only_touches_its_modality() -> None:
    torch.manual_seed(0)
    s = _sample()
    s["optical"] = s["optical"].clamp(0, 255)
    out = RandomGainOffset("optical", gain=(0.5, 2.0), offset=(-0.2, 0.2), p=1.0)(s)
    assert torch.equal(out["sar"], s["sar"]) and torch.equal(out["label"], s["label"])
    assert not torch.equal(out["optical"], s["optical"])
    assert float(out["optical"].min()) >= 0 and float(out["optical"].max()) <= 255
    s["sar"] = s["sar"].clamp(-30, 0)  # dB values well inside the clipping range
    db = RandomGainOffset("sar", gain=(1.0, 1.0), offset=(-0.05, 0.05), value_range=(-30, 10),
                          p=1.0)(s)
    shift = db["sar"] - s["sar"]
    assert torch.allclose(shift, shift.flatten()[0].expand_as(shift), atol=1e-5)
    with pytest.raises(ValueError):
        RandomGainOffset("lidar")


def test_normalise_and_stats(tmp_path) -> None:
    ds = SyntheticDataset(num_samples=3, size=16, seed=2)
    stats = compute_band_stats(ds)
    opt = np.stack([ds[i]["optical"].numpy() for i in range(3)], 1).reshape(4, -1)
    np.testing.assert_allclose(stats["optical"]["mean"], opt.mean(1), rtol=1e-6)
    np.testing.assert_allclose(stats["optical"]["std"], opt.std(1), rtol=1e-5)
    save_stats(stats, tmp_path / "stats.json", split="train")
    assert load_stats(tmp_path / "stats.json") == stats
    out = Normalise(stats)(ds[0])
    assert out["optical"].shape == (4, 16, 16) and torch.equal(out["label"], ds[0]["label"])
    whole = torch.stack([Normalise(stats)(ds[i])["optical"] for i in range(3)], 1)
    assert torch.allclose(whole.reshape(4, -1).mean(1), torch.zeros(4), atol=1e-4)
    with pytest.raises(ValueError, match="bands"):
        Normalise({"optical": {"mean": [0.0], "std": [1.0]}})(ds[0])
    # A constant band gets std 1 instead of dividing by zero.
    assert compute_band_stats([{"optical": torch.ones(1, 2, 2), "sar": torch.zeros(1, 2, 2)}],
                              )["sar"]["std"] == [1.0]


def test_build_transforms() -> None:
    stats = {"optical": {"mean": [0.0] * 3, "std": [1.0] * 3}, "sar": {"mean": [0.0],
                                                                     "std": [1.0]}}
    aug = {"crop": 4, "flip": True, "rot90": True,
           "gain_offset": {"optical": {"gain": [0.9, 1.1], "offset": [-0.05, 0.05]}}}
    train = build_transforms(aug, OMBRIA_SPEC, stats, train=True)
    names = [type(t).__name__ for t in train.transforms]
    assert names == ["RandomCrop", "RandomFlip", "RandomRot90", "RandomGainOffset", "Normalise"]
    evaluation = build_transforms(aug, OMBRIA_SPEC, stats, train=False)
    assert [type(t).__name__ for t in evaluation.transforms] == ["Normalise"]
    assert train(_sample())["label"].shape == (4, 4)
