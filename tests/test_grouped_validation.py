"""Grouped validation: tiles linked across shared edges, spatial blocks and folds, pre-event
water; on constructed scenes and on the real OMBRIA data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_export.data._io import default_data_root, read_raster
from model_export.data.ombria import OmbriaDataset
from model_export.data.ombria_files import list_ombria
from model_export.data.permanent_water import permanent_water
from model_export.data.splits import (
    Grouping,
    blocks_from_links,
    edge_links,
    grouped_folds,
    ombria_grouping,
    tile_edges,
)
from tests.conftest import require_shared_data

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


@pytest.fixture(scope="module")
def real() -> Path:
    """The real OMBRIA folder: missing is a failure (conftest's promise), never a skip."""
    require_shared_data("ombria/train/S1")
    return REAL


def _edge_profiles(root: Path) -> tuple[list[str], np.ndarray]:
    """Ids and [N, 4 sides (right, left, bottom, top), 2 (edge, one px in), 4 bands, L]."""
    ids, out = [], []
    for split in ("train", "test"):
        for pid, s1, s2, _ in list_ombria(root, split):
            x = np.concatenate([read_raster(s2)[:3], read_raster(s1)[:1]]).astype(np.float32)
            ids.append(pid)
            out.append(np.stack([np.stack([x[:, :, -1], x[:, :, -2]]),
                                 np.stack([x[:, :, 0], x[:, :, 1]]),
                                 np.stack([x[:, -1, :], x[:, -2, :]]),
                                 np.stack([x[:, 0, :], x[:, 1, :]])]))
    return ids, np.stack(out)


def _continues(edges: np.ndarray, a: int, others: np.ndarray) -> bool:
    """Does tile `a` continue one of `others` across a shared edge? Independent of the links the
    folds are cut with: every side pairing, every tile (no window, no ratio test), judged by the
    pixels: the step across the seam is at most 1.5x the step one pixel inside the tiles, and the
    two edge profiles are correlated (r > 0.8, mean over bands)."""
    for mine, theirs in ((0, 1), (2, 3), (1, 0), (3, 2)):
        ea, ia = edges[a, mine, 0], edges[a, mine, 1]  # [4, L]
        eb, ib = edges[others, theirs, 0], edges[others, theirs, 1]  # [M, 4, L]
        seam = np.abs(eb - ea).mean(axis=(1, 2))
        inner = 0.5 * (np.abs(ea - ia).mean() + np.abs(eb - ib).mean(axis=(1, 2)))
        za = (ea - ea.mean(1, keepdims=True)) / (ea.std(1, keepdims=True) + 1e-6)
        zb = (eb - eb.mean(2, keepdims=True)) / (eb.std(2, keepdims=True) + 1e-6)
        corr = (za[None] * zb).mean(axis=(1, 2))
        if ((seam <= 1.5 * inner) & (corr > 0.8)).any():
            return True
    return False


def _leak(edges: np.ndarray, pos: dict[str, int], train: list[str], val: list[str]) -> float:
    others = np.array([pos[i] for i in train])
    return float(np.mean([_continues(edges, pos[v], others) for v in val]))


def test_real_ombria_folds_share_no_touching_tiles(real: Path) -> None:
    g = ombria_grouping(str(real))
    # Measured: 672 links between the 694 tiles, 13 blocks of at least 24 ids.
    assert len(g.ids) == 694 and len(g.links) > 500 and 8 <= len(g.blocks) <= 30
    train = OmbriaDataset(real, "train", val_scheme="none").ids
    folds = grouped_folds(g, train, 4)
    ids, edges = _edge_profiles(real)
    assert sorted(ids) == sorted(g.ids)
    pos = {i: k for k, i in enumerate(ids)}
    val = OmbriaDataset(real, "val").ids  # the old random 10 % split
    # The independent measure sees the leak of the random split (half its tiles continue a
    # training tile) and none across the grouped folds.
    assert _leak(edges, pos, [i for i in train if i not in set(val)], val) > 0.3
    for k, fold in enumerate(folds):
        rest = [i for j, f in enumerate(folds) if j != k for i in f]
        assert _leak(edges, pos, rest, fold) == 0.0, k
    grouped_val = OmbriaDataset(real, "val", val_scheme="grouped", folds=4, fold=2)
    assert grouped_val.ids == folds[2]


def test_real_river_patch_is_ignored_not_labelled_dry(real: Path) -> None:
    ds = OmbriaDataset(real, "train", permanent_water="ignore")
    plain = OmbriaDataset(real, "train")
    i = ds.ids.index("0770")  # a river outside the flood mask (checked by eye)
    ignored, kept = ds[i]["label"].numpy(), plain[i]["label"].numpy()
    newly = (ignored == 255) & (kept != 255)
    assert newly.mean() > 0.03 and (kept[newly] == 0).all()  # measured: 4.7 % of the patch
    assert (ignored[kept == 1] == 1).all()  # flood labels untouched
    assert OmbriaDataset(real, "val", val_scheme="none").items == []
    with pytest.raises(ValueError, match="permanent_water"):
        OmbriaDataset(real, "train", permanent_water="drop")
