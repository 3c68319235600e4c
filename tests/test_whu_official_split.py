"""WHU-OPT-SAR with an explicit test-scene list (the official 80/20 split)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_export.data.whu_opt_sar import WhuOptSarDataset
from tests.test_data_scenes import make_whu


def test_listed_scenes_are_the_test_split(tmp_path: Path) -> None:
    make_whu(tmp_path / "whu", n=5)
    ids = sorted(p.stem for p in (tmp_path / "whu" / "optical").iterdir())
    listing = tmp_path / "test.txt"
    listing.write_text(f"# official test scenes\n{ids[1]}.tif\n{ids[3]}\n")
    split = {s: {sc.id for sc in WhuOptSarDataset(tmp_path / "whu", s, patch_size=32,
                                                  val_fraction=0.34, test_list=str(listing)
                                                  ).scenes} for s in ("train", "val", "test")}
    assert split["test"] == {ids[1], ids[3]}
    assert split["train"] | split["val"] == set(ids) - split["test"]
    assert not split["train"] & split["val"] and split["val"]
    listing.write_text("NH49E999999\n")
    with pytest.raises(FileNotFoundError, match="NH49E999999"):
        WhuOptSarDataset(tmp_path / "whu", "test", patch_size=32, test_list=str(listing))
