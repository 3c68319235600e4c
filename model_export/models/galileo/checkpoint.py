"""Load the published Galileo-nano encoder weights (`encoder.pt`) into `GalileoEncoder`, with the
project's load report. Every tensor must fit (the layout is the authors' own): a checkpoint that
leaves any encoder tensor unloaded is refused unless a partial load is explicitly allowed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from torch import Tensor

from ..backbone import read_state_dict
from ..load_report import LoadReport
from .encoder import GalileoEncoder

FULL_COVERAGE = 1.0


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def match_galileo_state(encoder: GalileoEncoder, state: dict[str, Tensor], source: str,
                        name: str = "galileo_nano") -> tuple[dict[str, Tensor], LoadReport]:
    """Which checkpoint tensors load (pure: nothing is copied)."""
    own = encoder.state_dict()
    report = LoadReport(encoder=name, source=source, total=len(own))
    usable: dict[str, Tensor] = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif value.shape != own[key].shape:
            report.mismatched.append(key)
            report.notes.append(f"{key}: checkpoint {tuple(value.shape)}, encoder "
                                f"{tuple(own[key].shape)}")
        else:
            usable[key] = value
    report.loaded = sorted(usable)
    report.missing = sorted(k for k in own if k not in usable)
    report.unexpected.sort()
    return usable, report


def load_galileo_weights(encoder: GalileoEncoder, path: str | Path, *,
                         name: str = "galileo_nano", allow_partial: bool = False,
                         verbose: bool = True, expected_sha256: str | None = None) -> LoadReport:
    """Load, print the report, refuse a load that is not complete (PretrainedLoadError) unless
    `allow_partial`; the encoder is untouched when refused. With `expected_sha256`, a file with
    another digest gets a note (not an error: fine-tuned copies are legitimate)."""
    state = read_state_dict(path)
    usable, report = match_galileo_state(encoder, state, str(path), name)
    if expected_sha256:
        digest = sha256_of(path)
        if digest != expected_sha256:
            report.notes.append(f"sha256 {digest[:16]}... is not the published file's "
                                f"{expected_sha256[:16]}...")
        else:
            report.notes.append("sha256 matches the published encoder.pt")
    if verbose:
        print(report.text(), flush=True)
    report.enforce(allow_partial, min_coverage=FULL_COVERAGE,
                   hint="Galileo loads its own layout one to one (encoder.pt of "
                   "nasaharvest/galileo data/models/nano).")
    encoder.load_state_dict(usable, strict=False)
    return report
