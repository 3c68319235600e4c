"""`encoder-features --encoder galileo_nano`: Galileo-nano's tokens of a raw-unit .npy array.

    python -m model_export encoder-features --encoder galileo_nano \\
        --checkpoint ../shared/models/galileo_nano/encoder.pt \\
        --bands VV,VH,B2,B3,B4,B5,B6,B7,B8,B8A,B11,B12 --patch-size 8 \\
        --input x.npy --output tokens.npy

Input: (N, C, H, W) float32 in RAW units, channels in `--bands` order (S1 in dB, S2 as
reflectance x 10000), H and W multiples of the patch size (1..8). The encoder applies the
authors' pretraining normalisation itself. Output: (N, H/p, W/p, G, 128) float32, the
space-time tokens after the encoder's final norm (month 5, 10 m), for the groups whose bands were
all given, in Galileo's group order (S1, S2_RGB, S2_Red_Edge, S2_NIR_10m, S2_NIR_20m, S2_SWIR).
The checkpoint must load completely (--allow-partial to override).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from model_export.models.galileo import (
    GalileoEncoder,
    complete_groups,
    load_galileo_weights,
    resolve_bands,
)


def read_raw_input(path: str | Path, channels: int, patch: int) -> np.ndarray:
    x = np.load(Path(path), allow_pickle=False)
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{path}: need (N, {channels}, H, W) for {channels} bands, got "
                         f"{x.shape}")
    if x.dtype != np.float32:
        raise ValueError(f"{path}: dtype {x.dtype}; the contract takes float32 (raw units)")
    if x.shape[2] % patch or x.shape[3] % patch:
        raise ValueError(f"{path}: H, W = {x.shape[2]}, {x.shape[3]} must be multiples of the "
                         f"patch size {patch}")
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: contains NaN or infinite values")
    return x


@torch.no_grad()
def galileo_features(encoder: GalileoEncoder, x: np.ndarray, bands: list[str], patch: int,
                     batch_size: int = 8) -> np.ndarray:
    out = [encoder.tokens(torch.from_numpy(x[i : i + batch_size]), bands, patch).numpy()
           for i in range(0, x.shape[0], batch_size)]
    return np.concatenate(out).astype(np.float32)


def run(args: argparse.Namespace) -> np.ndarray:
    """Features for parsed `encoder-features` arguments (raises ValueError on bad input)."""
    if not args.bands:
        raise ValueError("--bands is required for galileo_nano (e.g. VV,VH,B2,B3,B4)")
    bands = resolve_bands([b for b in args.bands.split(",") if b.strip()])
    complete_groups(bands)  # fail before reading anything large
    if args.patch_size not in range(1, 9):
        raise ValueError(f"--patch-size {args.patch_size}: Galileo-nano takes 1..8")
    x = read_raw_input(args.input, len(bands), args.patch_size)
    torch.set_num_threads(max(1, args.threads))
    encoder = GalileoEncoder().eval()
    load_galileo_weights(encoder, args.checkpoint, allow_partial=args.allow_partial)
    return galileo_features(encoder, x, bands, args.patch_size, max(1, args.batch_size))
