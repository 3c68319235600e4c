"""The one registry of encoders and their weights' metadata (issue 19)."""

from __future__ import annotations

import pytest
import torch

from model_export.models.encoder_weights import (
    default_path,
    encoder_weights,
    list_encoder_weights,
)
from model_export.models.galileo import GalileoEncoder
from model_export.models.galileo.spec import pretrain_shift_scale
from model_export.models.load_report import PretrainedLoadError


def test_registry_names_every_encoder_with_its_metadata() -> None:
    assert set(list_encoder_weights()) == {"convnext_tiny", "dofa_base", "dofa_large",
                                           "galileo_nano"}
    g = encoder_weights("galileo_nano").as_dict()
    assert g["licence"] == "MIT" and "ICML 2025" in g["citation"]
    assert g["gsd_m"] == 10.0 and g["patch_sizes"] == list(range(1, 9))
    assert list(g["groups"]) == ["S1", "S2_RGB", "S2_Red_Edge", "S2_NIR_10m", "S2_NIR_20m",
                                 "S2_SWIR"]
    assert [b for bands in g["groups"].values() for b in bands] == list(g["bands"])
    # the stats registered are the ones the encoder normalises with
    mean, std = g["normalisation"]["mean"]["VH"], g["normalisation"]["std"]["VH"]
    assert pretrain_shift_scale("VH") == pytest.approx((mean - 2 * std, 4 * std))
    assert encoder_weights("dofa_large").layout["depth"] == 24
    with pytest.raises(KeyError, match="known"):
        encoder_weights("galileo_base")


def test_loading_through_the_registry_reports_and_refuses(tmp_path) -> None:
    w = encoder_weights("galileo_nano")
    if default_path(w).is_file():
        report = w.load(GalileoEncoder(), verbose=False)
        assert report.coverage == 1.0
        assert any("sha256 matches" in n for n in report.notes)
    foreign = tmp_path / "convnext.pt"
    torch.save({"stages.0.blocks.0.gamma": torch.zeros(16)}, foreign)
    with pytest.raises(PretrainedLoadError, match="0 of 106"):
        w.load(GalileoEncoder(), foreign, verbose=False)
