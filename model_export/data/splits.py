"""Train / validation splits: spatial groups of OMBRIA patches (so validation measures
generalisation to unseen places), grouped folds, and the seeded random split.

OMBRIA ships its patches as ``NNNN`` ids without event names or coordinates, and its official
test split was drawn at random from the same numbering. The numbering is not random, though:
each flood scene was cut into a grid of 256 px tiles, numbered in raster order, and the scenes
follow one another. Two tiles that touched in the scene continue each other across the shared
edge (the last column of one is almost the first column of the other), which the data shows
directly:

- for every tile, the best-matching left edge among the tiles near it in the numbering differs
  from its own right edge by a mean absolute 3-8 grey levels when it is a real neighbour, about
  the difference between two adjacent columns inside one tile (median 3.3), against 15-25 for
  tiles that do not touch; the same holds for bottom / top edges;
- matched neighbours are at most 18 ids apart (right neighbour usually id + 1, bottom
  neighbour id + row length), and placing tiles by these links rebuilds the scenes as mosaics
  without any two tiles landing on one cell.

So: link every tile to its edge-continuing neighbours, cut the id sequence wherever no link
crosses (no tile before the cut touches a tile after it), and merge the resulting runs into
blocks of at least ``min_size`` ids. A block is a contiguous stretch of one scene (or a few
small neighbouring scenes); folds are contiguous runs of blocks. No two touching tiles are
ever on both sides of a fold boundary, by construction. ``test/`` images take part in the
linking (their pixels only, never their masks) because they fill holes in the train grid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model_export.data._io import read_raster
from model_export.data.ombria_files import list_ombria

# Measured on the real data (see the module docstring): real neighbours 3-8, others 15-25.
MAX_EDGE_DIFF = 8.0
# The best match must be clearly better than the second best (ratio test).
RATIO = 0.6
# Neighbours are at most 18 ids apart in the real data; look a little further.
WINDOW = 40


@dataclass(frozen=True)
class Grouping:
    ids: tuple[str, ...]  # every patch id of train/ and test/, in numeric order
    blocks: tuple[tuple[str, ...], ...]  # contiguous runs of ids, in order
    links: tuple[tuple[str, str], ...]  # pairs of ids whose tiles touch

    def block_of(self) -> dict[str, int]:
        return {i: b for b, ids in enumerate(self.blocks) for i in ids}


def tile_edges(optical: np.ndarray, sar: np.ndarray) -> np.ndarray:
    """[4 sides (left, right, top, bottom), C, L] edge pixels of one patch (float32)."""
    x = np.concatenate([optical[:3], sar[:1]]).astype(np.float32)
    return np.stack([x[:, :, 0], x[:, :, -1], x[:, 0, :], x[:, -1, :]])


def edge_links(edges: np.ndarray, window: int = WINDOW, max_diff: float = MAX_EDGE_DIFF,
               ratio: float = RATIO) -> list[tuple[int, int]]:
    """(i, j) pairs, i < j positions in numeric id order, whose shared edge continues.

    ``edges``: [N, 4, C, L] from :func:`tile_edges`. For every tile and each of its right and
    bottom edges, the best-continuing opposite edge among tiles within ``window`` positions is
    a link when its mean absolute difference is below ``max_diff`` and below ``ratio`` times
    the second best.
    """
    n = len(edges)
    flat = edges.reshape(n, 4, -1)
    links: set[tuple[int, int]] = set()
    for i in range(n):
        cand = np.array([j for j in range(max(0, i - window), min(n, i + window + 1)) if j != i])
        if cand.size < 2:
            continue
        for mine, theirs in ((1, 0), (3, 2)):  # right vs left, bottom vs top
            diff = np.abs(flat[cand, theirs] - flat[i, mine]).mean(axis=1)
            order = np.argsort(diff)
            best, second = diff[order[0]], diff[order[1]]
            if best < max_diff and best < ratio * second:
                j = int(cand[order[0]])
                links.add((min(i, j), max(i, j)))
    return sorted(links)


def blocks_from_links(ids: list[str], links: list[tuple[int, int]], min_size: int,
                      ) -> list[list[str]]:
    """Contiguous id runs cut where no link crosses, merged forward to ``min_size`` ids."""
    n = len(ids)
    crossing = np.zeros(max(n - 1, 0), np.int64)
    for a, b in links:
        crossing[a:b] += 1  # the link spans the gaps after positions a .. b-1
    runs: list[list[str]] = [[ids[0]]] if n else []
    for k in range(1, n):
        if crossing[k - 1] == 0:
            runs.append([])
        runs[-1].append(ids[k])
    blocks: list[list[str]] = []
    for run in runs:
        if blocks and len(blocks[-1]) < min_size:
            blocks[-1].extend(run)
        else:
            blocks.append(list(run))
    if len(blocks) > 1 and len(blocks[-1]) < min_size:
        blocks[-2].extend(blocks.pop())
    return blocks


def _patch_ids(root: Path) -> list[tuple[str, Path, Path]]:

    items = [(i, s1, s2) for folder in ("train", "test") if (root / folder).is_dir()
             for i, s1, s2, _ in list_ombria(root, folder)]
    return sorted(items, key=lambda t: int(t[0]))


@functools.lru_cache(maxsize=4)
def ombria_grouping(root: str, min_size: int = 24) -> Grouping:
    """The spatial blocks of the OMBRIA folder ``root`` (reads every after-event image once)."""
    items = _patch_ids(Path(root))
    edges = np.stack([tile_edges(read_raster(s2), read_raster(s1)) for _, s1, s2 in items])
    links = edge_links(edges)
    ids = [i for i, _, _ in items]
    blocks = blocks_from_links(ids, links, min_size)
    return Grouping(tuple(ids), tuple(tuple(b) for b in blocks),
                    tuple((ids[a], ids[b]) for a, b in links))


def touching_fraction(grouping: Grouping, train_ids: list[str], val_ids: list[str]) -> float:
    """Share of ``val_ids`` with a touching tile among ``train_ids`` (leakage of a split)."""
    train, val = set(train_ids), set(val_ids)
    touching = {a for a, b in grouping.links if a in val and b in train} | {
        b for a, b in grouping.links if b in val and a in train}
    return len(touching) / max(1, len(val))


def grouped_folds(grouping: Grouping, train_ids: list[str], k: int) -> list[list[str]]:
    """``k`` folds of ``train_ids``: contiguous runs of whole blocks, balanced by patch count."""
    if k < 2:
        raise ValueError(f"grouped validation needs at least 2 folds, got {k}")
    wanted = set(train_ids)
    per_block = [[i for i in b if i in wanted] for b in grouping.blocks]
    per_block = [b for b in per_block if b]
    if len(per_block) < k:
        raise ValueError(f"{len(per_block)} spatial blocks cannot make {k} folds")
    cuts = _balanced_cuts([len(b) for b in per_block], k)
    return [[i for b in per_block[a:z] for i in b] for a, z in zip(cuts[:-1], cuts[1:],
                                                                  strict=True)]


def _balanced_cuts(sizes: list[int], k: int) -> list[int]:
    """Block indices 0 = c0 < c1 < ... < ck = len(sizes) splitting ``sizes`` into ``k``
    contiguous parts with the least sum of squared deviations from an equal share (DP)."""
    n, share = len(sizes), sum(sizes) / k
    prefix = np.concatenate([[0], np.cumsum(sizes)])
    inf = float("inf")
    cost = np.full((k + 1, n + 1), inf)
    back = np.zeros((k + 1, n + 1), np.int64)
    cost[0, 0] = 0.0
    for part in range(1, k + 1):
        for end in range(part, n + 1):
            for start in range(part - 1, end):
                c = cost[part - 1, start] + (prefix[end] - prefix[start] - share) ** 2
                if c < cost[part, end]:
                    cost[part, end], back[part, end] = c, start
    cuts = [n]
    for part in range(k, 0, -1):
        cuts.append(int(back[part, cuts[-1]]))
    return cuts[::-1]


def grouped_split(root: Path, train_ids: list[str], folds: int, fold: int,
                  min_size: int = 24) -> tuple[list[str], list[str]]:
    """(train, val) ids of ``train_ids`` with fold ``fold`` of ``folds`` as validation."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
    parts = grouped_folds(ombria_grouping(str(root), min_size), train_ids, folds)
    val = set(parts[fold])
    return [i for i in train_ids if i not in val], [i for i in train_ids if i in val]


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic (train, val) index split of ``range(n)``; independent of any global RNG."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    val = sorted(perm[:n_val].tolist())
    train = sorted(perm[n_val:].tolist())
    return train, val


def train_or_val(root: Path, items: list[Any], split: str, scheme: str, val_fraction: float,
                 split_seed: int, folds: int, fold: int) -> list[Any]:
    """The OMBRIA items of `split` (train or val): all, a grouped fold, or a seeded random cut."""
    if scheme == "none":
        return items if split == "train" else []
    if scheme == "grouped":
        train_ids, val_ids = grouped_split(root, [i[0] for i in items], folds, fold)
        keep = set(train_ids if split == "train" else val_ids)
        return [i for i in items if i[0] in keep]
    train_idx, val_idx = split_indices(len(items), val_fraction, split_seed)
    return [items[i] for i in (train_idx if split == "train" else val_idx)]
