"""UPSeg-DOFA: one shared encoder for both modalities, cross-attention VEM, prompts between block
groups, both training modes; and the encoder-features contract command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_export.evaluation.encoder_features import main as features_main
from model_export.models import CrossAttentionVEM, build_model, model_config
from model_export.models.dofa import DofaEncoder, load_dofa_weights
from tests.dofa_layouts import published_state

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = {"vit_dim": 32, "vit_depth": 4, "vit_heads": 2, "neck_dim": 16, "decoder_dim": 16,
        "vem_head_dim": 16, "num_classes": 3, "in_channels_optical": 4, "in_channels_sar": 2,
        "optical_bands": ["blue", "green", "red", "nir"], "sar_bands": ["vv", "vh"],
        "init_seed": 0}


def _model(**overrides: object) -> torch.nn.Module:
    return build_model("upseg_dofa_tiny", **{**TINY, **overrides})


def test_both_modalities_share_one_encoder_with_their_own_wavelengths() -> None:
    model = _model()
    assert len(model.stems) == 0  # no per-modality stem: DOFA's embedding takes any bands
    assert model.wavelengths("optical").tolist() == pytest.approx([0.49, 0.56, 0.665, 0.842])
    vv, vh = model.wavelengths("sar").tolist()
    assert vv == 3.75 and vh != vv  # each polarisation its own code, so its own filter
    with torch.no_grad():
        logits = model.eval()(torch.randn(2, 4, 80, 72), torch.randn(2, 2, 80, 72))
    assert logits.shape == (2, 3, 80, 72)  # 72 is not a multiple of 16: padded and cropped


def test_config_errors_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="no central wavelength known for optical band 'pan2'"):
        _model(optical_bands=["pan2", "green", "red", "nir"])
    with pytest.raises(ValueError, match="wavelengths_sar has 1 values for 2 bands"):
        model_config("upseg_dofa_tiny", **{**TINY, "wavelengths_sar": [3.75]})
    explicit = _model(wavelengths_sar=[5.5, 5.5], sar_bands=None)
    assert explicit.wavelengths("sar").tolist() == [5.5, 5.5]


def test_vem_attends_across_positions() -> None:
    """Unlike a per-pixel projection, optical at one position sees SAR at every other one."""
    torch.manual_seed(0)
    vem = CrossAttentionVEM(32, head_dim=16, init_scale=1.0).eval()
    opt, sar = torch.randn(1, 32, 4, 4), torch.randn(1, 32, 4, 4)
    moved = sar.clone()
    moved[:, :, 3, 3] = 3.0 * torch.randn(1, 32)  # change SAR far from position (0, 0)
    with torch.no_grad():
        a, _ = vem(opt, sar)
        b, _ = vem(opt, moved)
        tokens = opt.flatten(2).transpose(1, 2)
        shared, unique, attn = vem.decompose(tokens, sar.flatten(2).transpose(1, 2))
    assert not torch.allclose(a[:, :, 0, 0], b[:, :, 0, 0])
    assert torch.allclose(attn.sum(-1), torch.ones(1))  # each position: a distribution over b
    torch.testing.assert_close(unique + shared,
                               vem.v(vem.norm(tokens)))  # unique = own value - what b explains


def test_prompt_tuning_trains_only_the_upseg_parts_and_full_tuning_everything() -> None:
    frozen, full = _model(freeze_backbone=True), _model()
    for model, encoder_trains in ((frozen, False), (full, True)):
        model.train()
        model(torch.randn(2, 4, 32, 32), torch.randn(2, 2, 32, 32)).sum().backward()
        enc_grads = [p.grad is not None for n, p in model.backbone.named_parameters()
                     if n != "pos_embed"]
        assert all(enc_grads) is encoder_trains and any(enc_grads) is encoder_trains
        for part in (model.prompts, model.vem, model.neck, model.decoder):
            assert all(p.grad is not None for p in part.parameters())
    assert not frozen.backbone.training  # frozen encoder stays in eval mode (no drop path)


def test_late_fusion_has_neither_part() -> None:
    late = build_model("late_fusion_dofa_tiny", **TINY)
    assert late.prompts is None and late.vem is None
    assert sum(p.numel() for p in late.parameters()) < sum(p.numel() for p in
                                                           _model().parameters())


def _checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "dofa_tiny_torchgeo_layout.pth"
    torch.save(published_state(32, 2), path)
    return path


def _run_features(tmp_path: Path, ckpt: Path, x: np.ndarray, out: str) -> int:
    np.save(tmp_path / "x.npy", x)
    return features_main(["--encoder", "dofa", "--vit-dim", "32", "--vit-depth", "2",
                          "--vit-heads", "2", "--checkpoint", str(ckpt), "--wavelengths",
                          "0.665,0.56,0.49", "--input", str(tmp_path / "x.npy"),
                          "--output", str(tmp_path / out)])


def test_encoder_features_contract_is_deterministic(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path)
    x = np.random.default_rng(0).normal(size=(3, 3, 48, 64)).astype(np.float32)
    assert _run_features(tmp_path, ckpt, x, "a.npy") == 0
    assert _run_features(tmp_path, ckpt, x, "b.npy") == 0
    a = np.load(tmp_path / "a.npy")
    assert a.shape == (3, 3 * 4, 32) and a.dtype == np.float32
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    # The contract: last block's patch tokens, no final norm, = the encoder's own `tokens`.
    enc = DofaEncoder(dim=32, depth=2, heads=2, groups=2).eval()
    load_dofa_weights(enc, ckpt, verbose=False)
    with torch.no_grad():
        ref = enc.tokens(torch.from_numpy(x), torch.tensor([0.665, 0.56, 0.49]))
    np.testing.assert_allclose(a, ref.numpy(), atol=1e-5)


def test_encoder_features_rejects_bad_input_and_writes_nothing(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]
                                                               ) -> None:
    ckpt = _checkpoint(tmp_path)
    x = np.zeros((1, 3, 40, 64), np.float32)
    assert _run_features(tmp_path, ckpt, x, "bad.npy") == 2
    assert "must be multiples of 16" in capsys.readouterr().err
    assert not (tmp_path / "bad.npy").exists()
    assert _run_features(tmp_path, ckpt, np.zeros((1, 2, 32, 32), np.float32), "bad.npy") == 2
    assert "2 bands but 3 wavelengths" in capsys.readouterr().err
