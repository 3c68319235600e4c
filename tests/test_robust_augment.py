"""Scene-difference augmentations: what each one changes, and what it must leave alone."""

from __future__ import annotations

import pytest
import torch

from model_export.data.robust_augment import (
    RandomCloud,
    RandomHaze,
    RandomNodata,
    RandomSpeckle,
    RandomZoom,
    build_robust,
)
from model_export.data.spec import IGNORE_INDEX


def _sample(h: int = 64, w: int = 64) -> dict:
    g = torch.Generator().manual_seed(0)
    label = (torch.rand(h, w, generator=g) > 0.6).long()
    return {"optical": torch.rand(3, h, w, generator=g) * 120 + 20,
            "sar": torch.rand(1, h, w, generator=g) * 100 + 80, "label": label, "id": "x"}


def test_zoom_resamples_both_modalities_and_keeps_labels_exact() -> None:
    torch.manual_seed(0)
    s = _sample()
    out = RandomZoom(scale=(2.0, 2.0), p=1.0)(s)
    assert out["optical"].shape == (3, 128, 128) and out["sar"].shape == (1, 128, 128)
    assert out["label"].shape == (128, 128) and out["label"].dtype == torch.int64
    assert set(out["label"].unique().tolist()) <= {0, 1}  # nearest: no invented classes
    small = RandomZoom(scale=(0.5, 0.5), p=1.0)(s)
    assert small["label"].shape == (32, 32)


def test_haze_adds_most_in_blue_and_never_touches_sar_or_label() -> None:
    torch.manual_seed(1)
    s = _sample()
    out = RandomHaze(amount=(40.0, 40.0), transmission=(1.0, 1.0), p=1.0)(s)
    added = (out["optical"] - s["optical"]).mean(dim=(1, 2))
    assert added.tolist() == pytest.approx([28.0, 34.0, 40.0], abs=1e-3)  # weights 0.7/0.85/1
    assert torch.equal(out["sar"], s["sar"]) and torch.equal(out["label"], s["label"])


def test_cloud_brightens_optical_only() -> None:
    torch.manual_seed(2)
    s = _sample()
    out = RandomCloud(cover=(0.4, 0.4), shadow=0.0, brightness=(240.0, 240.0), p=1.0)(s)
    assert out["optical"].mean() > s["optical"].mean() + 10
    assert torch.equal(out["sar"], s["sar"]) and torch.equal(out["label"], s["label"])


def test_speckle_adds_noise_or_smooths() -> None:
    torch.manual_seed(3)
    s = _sample()
    noisy = RandomSpeckle(looks=(3.0, 3.0), smooth=0.0, p=1.0)(s)
    smooth = RandomSpeckle(smooth=1.0, p=1.0)(s)
    diff = lambda x: (x[..., 1:] - x[..., :-1]).abs().mean()  # noqa: E731
    assert diff(noisy["sar"]) > diff(s["sar"]) > diff(smooth["sar"])


def test_nodata_ignores_the_label_where_an_input_is_missing() -> None:
    torch.manual_seed(4)
    s = _sample()
    out = RandomNodata(cover=(0.3, 0.3), p=1.0)(s)
    gone = out["label"] == IGNORE_INDEX
    assert 0.2 < gone.float().mean() < 0.4
    zero = (out["optical"] == 0).all(0) | (out["sar"] == 0).all(0)
    assert torch.equal(zero, gone)  # filled with 0 (the normalised mean) exactly there


def test_builder_places_transforms_and_refuses_unknown_names() -> None:
    parts = build_robust({"zoom": {"p": 0.5}, "haze": {"amount": [0, 10]}, "nodata": None,
                          "speckle": False})
    assert [type(t).__name__ for t in parts.geometric] == ["RandomZoom"]
    assert [type(t).__name__ for t in parts.radiometric] == ["RandomHaze", "Clip"]
    assert parts.normalised == []
    assert parts.radiometric[0].amount == (0, 10)
    with pytest.raises(ValueError, match="unknown robust augmentation"):
        build_robust({"snow": {}})
    # p = 0 is the identity.
    s = _sample()
    out = build_robust({"haze": {"p": 0.0}}).radiometric[0](s)
    assert torch.equal(out["optical"], s["optical"])
