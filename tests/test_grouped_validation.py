"""Grouped validation: tiles linked across shared edges, spatial blocks and folds, pre-event
water; on constructed scenes and on the real OMBRIA data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_export.data._io import default_data_root
from model_export.data.ombria import OmbriaDataset
from model_export.data.permanent_water import permanent_water
from model_export.data.splits import (
    Grouping,
    blocks_from_links,
    edge_links,
    grouped_folds,
    ombria_grouping,
    tile_edges,
    touching_fraction,
)

REAL = default_data_root() / "ombria"


def _scene(rng: np.random.Generator, rows: int, cols: int, t: int) -> np.ndarray:
    """A smooth random 4-band scene (3 optical + SAR) of rows x cols tiles of t px."""
    coarse = rng.random((4, rows * 2 + 1, cols * 2 + 1)) * 255
    ys = np.linspace(0, rows * 2, rows * t)
    xs = np.linspace(0, cols * 2, cols * t)
    y0, x0 = np.floor(ys).astype(int).clip(0, rows * 2 - 1), np.floor(xs).astype(int).clip(
        0, cols * 2 - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    c = coarse
    return (c[:, y0][:, :, x0] * (1 - fy) * (1 - fx) + c[:, y0 + 1][:, :, x0] * fy * (1 - fx)
            + c[:, y0][:, :, x0 + 1] * (1 - fy) * fx + c[:, y0 + 1][:, :, x0 + 1] * fy * fx)


def test_touching_tiles_are_linked_and_scenes_become_separate_blocks() -> None:
    rng = np.random.default_rng(0)
    t = 32
    tiles, scene_of = [], []
    for s, (rows, cols) in enumerate(((3, 4), (2, 3))):  # two scenes, raster order
        img = _scene(rng, rows, cols, t)
        for r in range(rows):
            for c in range(cols):
                tiles.append(img[:, r * t:(r + 1) * t, c * t:(c + 1) * t])
                scene_of.append(s)
    edges = np.stack([tile_edges(x[:3], x[3:]) for x in tiles])
    links = edge_links(edges)
    assert links, "touching tiles of a smooth scene must link"
    assert all(scene_of[a] == scene_of[b] for a, b in links)  # never across scenes
    assert (0, 1) in links and (0, 4) in links  # right and bottom neighbour of the first tile
    ids = [f"{i:04d}" for i in range(len(tiles))]
    blocks = blocks_from_links(ids, links, min_size=1)
    assert [len(b) for b in blocks] == [12, 6]
    # Merging only coarsens: with a minimum size the short scene joins the previous block.
    assert [len(b) for b in blocks_from_links(ids, links, min_size=13)] == [18]


def test_folds_are_contiguous_whole_blocks_balanced_by_size() -> None:
    blocks = tuple(tuple(f"{b}{i:03d}" for i in range(n)) for b, n in
                   zip("abcdef", (10, 30, 12, 8, 25, 15), strict=True))
    g = Grouping(ids=tuple(i for b in blocks for i in b), blocks=blocks, links=())
    train = list(g.ids)
    folds = grouped_folds(g, train, 3)
    assert sorted(i for f in folds for i in f) == sorted(train)
    block_of = g.block_of()
    # Each block lies in exactly one fold, and folds are runs of consecutive blocks.
    fold_of_block = {block_of[i]: k for k, f in enumerate(folds) for i in f}
    assert list(fold_of_block.values()) == sorted(fold_of_block.values())
    # The most even contiguous split of 10 30 | 12 8 | 25 15 (no split is nearer 33 each).
    assert [len(f) for f in folds] == [40, 20, 40]
    with pytest.raises(ValueError, match="cannot make"):
        grouped_folds(g, train, 7)


def test_permanent_water_needs_both_dates_both_sensors_and_stays_out_of_the_mask() -> None:
    h = w = 64
    rng = np.random.default_rng(1)
    sar_after = rng.normal(170, 8, (h, w))
    sar_before = rng.normal(170, 8, (h, w))
    optical_before = np.stack([np.full((h, w), 60.0), np.full((h, w), 70.0),
                               np.full((h, w), 30.0)])
    river = np.zeros((h, w), bool)
    river[:, 20:28] = True
    sar_after[river] -= 90
    sar_before[river] -= 90
    optical_before[:, river] = np.array([10.0, 40.0, 45.0])[:, None]
    new_water = np.zeros((h, w), bool)
    new_water[40:, 40:] = True  # flooded: dark after only
    sar_after[new_water] -= 90
    flood = new_water.copy()
    flood[:, 24:28] = True  # the mask happens to cover half the river
    found = permanent_water(sar_after, sar_before, optical_before, flood)
    assert found[:, 21:23].mean() > 0.9  # the river outside the mask
    assert not (found & flood).any()  # never inside the flood mask
    assert not found[:, :16].any() and not found[:, 32:40].any()  # dry land untouched
    # Dark before and after but not water-like in the pre-event optical: not flagged.
    optical_before[:, river] = 60.0
    assert not permanent_water(sar_after, sar_before, optical_before, flood).any()


@pytest.mark.skipif(not (REAL / "train" / "S1").is_dir(), reason="real OMBRIA data not present")
def test_real_ombria_folds_share_no_touching_tiles() -> None:
    g = ombria_grouping(str(REAL))
    # Measured: 672 links between the 694 tiles, 13 blocks of at least 24 ids.
    assert len(g.ids) == 694 and len(g.links) > 500 and 8 <= len(g.blocks) <= 30
    train = OmbriaDataset(REAL, "train", val_scheme="none").ids
    folds = grouped_folds(g, train, 4)
    for k, fold in enumerate(folds):
        rest = [i for j, f in enumerate(folds) if j != k for i in f]
        assert touching_fraction(g, rest, fold) == 0.0
    val = OmbriaDataset(REAL, "val").ids  # the old random 10 % split
    assert touching_fraction(g, [i for i in train if i not in set(val)], val) > 0.5
    grouped_val = OmbriaDataset(REAL, "val", val_scheme="grouped", folds=4, fold=2)
    assert grouped_val.ids == folds[2]


@pytest.mark.skipif(not (REAL / "train" / "S1").is_dir(), reason="real OMBRIA data not present")
def test_real_river_patch_is_ignored_not_labelled_dry() -> None:
    ds = OmbriaDataset(REAL, "train", permanent_water="ignore")
    plain = OmbriaDataset(REAL, "train")
    i = ds.ids.index("0770")  # a river outside the flood mask (checked by eye)
    ignored, kept = ds[i]["label"].numpy(), plain[i]["label"].numpy()
    newly = (ignored == 255) & (kept != 255)
    assert newly.mean() > 0.03 and (kept[newly] == 0).all()  # measured: 4.7 % of the patch
    assert (ignored[kept == 1] == 1).all()  # flood labels untouched
    assert OmbriaDataset(REAL, "val", val_scheme="none").items == []
    with pytest.raises(ValueError, match="permanent_water"):
        OmbriaDataset(Path(REAL), "train", permanent_water="drop")
