"""Galileo-nano encoder: agrees with the authors' code (reference tokens in tests/fixtures, see
the README there), loads the published checkpoint completely, refuses one that does not fit, and
the `encoder-features --encoder galileo_nano` contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_export.evaluation.encoder_features import main as features_main
from model_export.models.galileo import GalileoEncoder, load_galileo_weights
from model_export.models.galileo.spec import complete_groups, pretrain_shift_scale
from model_export.models.load_report import PretrainedLoadError

pytestmark = pytest.mark.usefixtures("torch_one_thread")

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "galileo_nano_reference.npz"
CHECKPOINT = ROOT.parent / "shared" / "models" / "galileo_nano" / "encoder.pt"
ALL = ["VV", "VH", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
needs_weights = pytest.mark.skipif(not CHECKPOINT.is_file(),
                                   reason=f"published weights not at {CHECKPOINT}")


def _synthetic_reference_input() -> np.ndarray:
    """The fixture's synthetic raw-unit input, (2, 12, 16, 16) float32 in ALL order."""
    f = np.load(FIXTURE)
    s1 = f["s1_centi_db"].astype(np.float64) / 100.0
    return np.concatenate([s1, f["s2_reflectance_x1e4"].astype(np.float64)], 1).astype(
        np.float32)


CASES = {  # name -> (sample slice, bands, size, patch), as the fixture's README states
    "all_p8": (slice(0, 1), ALL, 16, 8),
    "all_p4": (slice(1, 2), ALL, 8, 4),
    "subset_p4": (slice(0, 1), ALL[:5], 12, 4),
    "s2_p3": (slice(1, 2), ALL[2:], 6, 3),
}


@pytest.fixture(scope="module")
def encoder() -> GalileoEncoder:
    if not CHECKPOINT.is_file():
        pytest.skip(f"published weights not at {CHECKPOINT}")
    enc = GalileoEncoder().eval()
    load_galileo_weights(enc, CHECKPOINT, verbose=False)
    return enc


@pytest.mark.parametrize("case", sorted(CASES))
def test_tokens_agree_with_the_authors_code(encoder: GalileoEncoder, case: str) -> None:
    rows, bands, size, patch = CASES[case]
    x = _synthetic_reference_input()[rows][:, [ALL.index(b) for b in bands], :size, :size]
    with torch.no_grad():
        ours = encoder.tokens(torch.from_numpy(np.ascontiguousarray(x)), bands, patch).numpy()
    ref = np.load(FIXTURE)[f"{case}_tokens"]
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


@needs_weights
def test_published_checkpoint_loads_every_tensor() -> None:
    report = load_galileo_weights(GalileoEncoder(), CHECKPOINT, verbose=False,
                                  expected_sha256="eab6acacf527886a508a555bc24efe4b4a2cf91b162"
                                  "e84cd1c4a1807e942180c")
    assert report.coverage == 1.0 and not report.unexpected and not report.mismatched
    assert any("sha256 matches" in n for n in report.notes)


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    enc = GalileoEncoder()
    state = enc.state_dict()
    state.pop("norm.weight")  # one tensor missing: not the published layout
    state["blocks.0.attn.q.weight"] = torch.zeros(64, 64)  # another shape
    state["head.weight"] = torch.zeros(3)
    path = tmp_path / "other.pt"
    torch.save(state, path)
    before = enc.blocks[0].attn.q.weight.clone()
    with pytest.raises(PretrainedLoadError, match="104 of 106"):
        load_galileo_weights(enc, path, verbose=False)
    assert torch.equal(enc.blocks[0].attn.q.weight, before)  # untouched when refused
    report = load_galileo_weights(enc, path, verbose=False, allow_partial=True)
    assert report.missing == ["blocks.0.attn.q.weight", "norm.weight"]
    assert report.unexpected == ["head.weight"]


def test_normalisation_and_groups_follow_the_authors_rule() -> None:
    shift, div = pretrain_shift_scale("B4")
    mean, std = 1343.09883810357, 1092.678723527555
    assert (shift, div) == pytest.approx((mean - 2 * std, 4 * std))
    assert complete_groups(["B4", "VH", "B3", "VV", "B2", "B8"]) == ["S1", "S2_RGB",
                                                                     "S2_NIR_10m"]
    with pytest.raises(ValueError, match="S2_SWIR needs all of B11, B12"):
        complete_groups(["VV", "VH", "B11"])


def test_any_patch_size_from_1_to_8_and_no_other() -> None:
    enc = GalileoEncoder().eval()
    x = torch.rand(1, 3, 8, 8) * 3000
    for p in (1, 2, 8):
        assert enc.tokens(x, ["B2", "B3", "B4"], p).shape == (1, 8 // p, 8 // p, 1, 128)
    with pytest.raises(ValueError, match="patch size 9"):
        enc.tokens(torch.rand(1, 3, 9, 9), ["B2", "B3", "B4"], 9)


@needs_weights
def test_encoder_features_command_writes_the_contract(tmp_path: Path) -> None:
    x = _synthetic_reference_input()[:, :5, :12, :12]  # VV, VH, B2, B3, B4
    np.save(tmp_path / "x.npy", np.ascontiguousarray(x))
    args = ["--encoder", "galileo_nano", "--checkpoint", str(CHECKPOINT),
            "--bands", "VV,VH,B2,B3,B4", "--patch-size", "4",
            "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "t.npy")]
    assert features_main(args) == 0
    tokens = np.load(tmp_path / "t.npy")
    assert tokens.shape == (2, 3, 3, 2, 128) and tokens.dtype == np.float32
    ref = np.load(FIXTURE)["subset_p4_tokens"]
    assert np.abs(tokens[:1] - ref).max() <= 1e-4 * np.abs(ref).max()
    bad = args[:5] + ["VV,B2,B3,B4"] + args[6:]  # VV without VH: the S1 group is incomplete
    bad[-1] = str(tmp_path / "never.npy")
    assert features_main(bad) == 2 and not (tmp_path / "never.npy").exists()
