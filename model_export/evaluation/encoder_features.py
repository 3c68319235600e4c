"""``python -m model_export encoder-features``: the encoder alone, as a stable contract.

    python -m model_export encoder-features --encoder dofa_base --checkpoint CKPT \\
        --wavelengths 0.665,0.56,0.49 --input x.npy --output feats.npy

Reads an (N, C, H, W) float32 array that is already normalised (C = number of wavelengths, H and W
multiples of 16) and writes the patch tokens (N, L, D), L = (H/16)(W/16) in row-major patch order,
that the encoder's LAST transformer block outputs: class token dropped, no final norm, before any
prompt, VEM, neck or head. Any DOFA implementation holding the same weights (e.g. torchgeo's, given
a plain state dict in its layout, fed the same wavelengths) gives the same tokens at 224 x 224;
other sizes use this project's bicubic resampling of the position table (docs/model.md). The
output is float32, deterministic (fixed thread count, no random ops); it is written only when the
whole run succeeded. The checkpoint load follows the 95 % rule (--allow-partial to override).

`--encoder galileo_nano --bands ... --patch-size P` takes RAW units instead and writes Galileo's
(N, H/P, W/P, groups, 128) tokens: see model_export/evaluation/galileo_features.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from model_export.models.dofa import DOFA_SIZES, WEIGHT_ORDERS, DofaEncoder, load_dofa_weights


def parse_wavelengths(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"--wavelengths: comma-separated micrometres, got {text!r}") from exc
    if not values or any(not 0 < v < 1e6 for v in values):
        raise ValueError(f"--wavelengths: positive micrometre values needed, got {text!r}")
    return values


def read_input(path: str | Path, bands: int, patch: int = 16) -> np.ndarray:
    """The (N, C, H, W) float32 array, or a ValueError that says what to fix."""
    x = np.load(Path(path), allow_pickle=False)
    if x.ndim != 4:
        raise ValueError(f"{path}: need an (N, C, H, W) array, got shape {x.shape}")
    if x.shape[1] != bands:
        raise ValueError(f"{path}: {x.shape[1]} bands but {bands} wavelengths given; give one "
                         "wavelength per band, in band order")
    if x.shape[2] % patch or x.shape[3] % patch:
        raise ValueError(f"{path}: H, W = {x.shape[2]}, {x.shape[3]} must be multiples of "
                         f"{patch} (crop or pad the array first)")
    if x.dtype != np.float32:
        raise ValueError(f"{path}: dtype {x.dtype}; the contract takes float32 (normalised)")
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: contains NaN or infinite values")
    return x


def build_encoder(name: str, weight_order: str, dims: Sequence[int | None]) -> DofaEncoder:
    if name in DOFA_SIZES:
        dim, depth, heads = DOFA_SIZES[name]
    elif name == "dofa" and all(dims):
        dim, depth, heads = (int(d) for d in dims)  # type: ignore[arg-type]
    else:
        raise ValueError(f"--encoder: one of {sorted(DOFA_SIZES)}, or 'dofa' with --vit-dim, "
                         "--vit-depth and --vit-heads")
    return DofaEncoder(dim=dim, depth=depth, heads=heads, groups=min(4, depth),
                       weight_order=weight_order).eval()


@torch.no_grad()
def encoder_features(encoder: DofaEncoder, x: np.ndarray, wavelengths: Sequence[float],
                     batch_size: int = 8) -> np.ndarray:
    waves = torch.tensor(list(wavelengths), dtype=torch.float32)
    out = [encoder.tokens(torch.from_numpy(x[i : i + batch_size]), waves).numpy()
           for i in range(0, x.shape[0], batch_size)]
    return np.concatenate(out).astype(np.float32)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export encoder-features",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", required=True,
                   help=f"{', '.join(sorted(DOFA_SIZES))}, dofa or galileo_nano")
    p.add_argument("--checkpoint", required=True, help="DOFA weights, authors' or torchgeo layout")
    p.add_argument("--wavelengths", help="DOFA: micrometres, one per band, e.g. "
                   "0.665,0.56,0.49")
    p.add_argument("--bands", help="galileo_nano: band names in channel order, e.g. VV,VH,B2,B3,B4")
    p.add_argument("--patch-size", type=int, default=8, help="galileo_nano: 1..8")
    p.add_argument("--input", required=True, help="(N, C, H, W) float32 .npy, normalised")
    p.add_argument("--output", required=True, help="(N, L, D) float32 .npy")
    p.add_argument("--weight-order", choices=WEIGHT_ORDERS, default="band_major")
    p.add_argument("--allow-partial", action="store_true",
                   help="accept a checkpoint covering < 95 %% of the encoder's tensors")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch threads (fixed: deterministic)")
    p.add_argument("--vit-dim", type=int)
    p.add_argument("--vit-depth", type=int)
    p.add_argument("--vit-heads", type=int)
    args = p.parse_args(argv)
    try:
        if args.encoder == "galileo_nano":  # raw-unit input, own normalisation
            from model_export.evaluation.galileo_features import run as galileo_run

            feats = galileo_run(args)
            return _write(feats, args.output, args.input)
        if not args.wavelengths:
            raise ValueError("--wavelengths is required for DOFA encoders")
        waves = parse_wavelengths(args.wavelengths)
        x = read_input(args.input, len(waves))
        torch.set_num_threads(max(1, args.threads))
        encoder = build_encoder(args.encoder, args.weight_order,
                                (args.vit_dim, args.vit_depth, args.vit_heads))
        load_dofa_weights(encoder, args.checkpoint, name=args.encoder,
                          allow_partial=args.allow_partial)
        feats = encoder_features(encoder, x, waves, max(1, args.batch_size))
    except (ValueError, FileNotFoundError) as exc:
        print(f"encoder-features: {exc}", file=sys.stderr)
        return 2
    return _write(feats, args.output, args.input)


def _write(feats: np.ndarray, output: str, source: str) -> int:
    """Write atomically: the output appears only when the whole run succeeded."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial.npy")
    np.save(tmp, feats)
    os.replace(tmp, out)
    print(f"encoder-features: {source} -> {feats.shape} written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
