"""The DOFA encoder: published computation of the dynamic patch embedding, band-order invariance,
position-embedding resampling, and loading checkpoints in the published layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_export.models import Backbone, PretrainedLoadError, build_model
from model_export.models.dofa import DofaEncoder, load_dofa_weights
from tests.dofa_layouts import published_state, reference_generator_layer

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _tiny(order: str = "band_major", depth: int = 2) -> DofaEncoder:
    torch.manual_seed(0)
    return DofaEncoder(dim=32, depth=depth, heads=2, groups=2, weight_order=order).eval()


def test_dynamic_filters_follow_the_published_computation() -> None:
    """Filters from the encoder equal the published recipe run on torch's own
    TransformerEncoderLayer (the module DOFA and torchgeo use) with the same weights."""
    enc = _tiny()
    pe = enc.patch_embed
    ref = reference_generator_layer().eval()
    ref.load_state_dict({k.removeprefix("weight_generator.transformer_encoder."): v
                         for k, v in pe.state_dict().items()
                         if k.startswith("weight_generator.transformer_encoder.")})
    waves = torch.tensor([0.665, 0.56, 0.49, 3.75])
    p = {k: v.detach() for k, v in pe.state_dict().items()}
    # The published formulas, written out here from the state dict (none of the encoder's own
    # helpers): DOFA's 1-D sin/cos code of the wavelength in nm, omega_k = 1 / 10000^(k / 64),
    # then the residual MLP x + relu(w2 relu(w1 x)).
    omega = 1.0 / 10000 ** (torch.arange(64, dtype=torch.float32) / 64.0)
    angles = (waves * 1000)[:, None] * omega[None, :]
    sincos = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    hidden = torch.relu(sincos @ p["fclayer.w1.weight"].T + p["fclayer.w1.bias"])
    codes = sincos + torch.relu(hidden @ p["fclayer.w2.weight"].T + p["fclayer.w2.bias"])
    with torch.no_grad():
        out = ref(torch.cat([p["weight_generator.weight_tokens"], codes,
                             p["weight_generator.bias_token"]]))
        rows = (out[128:-1] + codes) @ p["weight_generator.fc_weight.weight"].T \
            + p["weight_generator.fc_weight.bias"]
        expected_w = rows.view(4, 16, 16, 32).permute(3, 0, 1, 2) * 0.01
        expected_b = (out[-1] @ p["weight_generator.fc_bias.weight"].T
                      + p["weight_generator.fc_bias.bias"]) * 0.01
        weight, bias = pe.filters(waves)
    assert weight.shape == (32, 4, 16, 16)
    torch.testing.assert_close(weight, expected_w, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(bias, expected_b, atol=1e-6, rtol=1e-5)


def test_band_order_does_not_matter_with_band_major_filters() -> None:
    x = torch.randn(1, 3, 64, 64)
    waves = torch.tensor([0.665, 0.56, 0.49])
    perm = [2, 0, 1]
    for order, same in (("band_major", True), ("legacy", False)):
        enc = _tiny(order)
        with torch.no_grad():
            a, b = enc.tokens(x, waves), enc.tokens(x[:, perm], waves[perm])
        assert torch.allclose(a, b, atol=1e-5) is same, order


def test_swapping_vv_and_vh_changes_the_tokens() -> None:
    """With one code for both, the filters were equal and the embedding saw only VV + VH."""
    from model_export.models.bands import wavelengths_for

    enc = _tiny()
    x = torch.randn(1, 2, 64, 64)
    waves = torch.tensor(wavelengths_for(["vv", "vh"]))
    with torch.no_grad():
        a, b = enc.tokens(x, waves), enc.tokens(x[:, [1, 0]], waves)
        weight, _ = enc.patch_embed.filters(waves)
    assert not torch.allclose(weight[:, 0], weight[:, 1])
    assert (a - b).abs().max() > 1e-3 * a.abs().max()


def test_position_embeddings_resampled_for_other_sizes() -> None:
    enc = _tiny()
    table = enc.pos_embed[:, 1:]
    assert torch.equal(enc.pos_for(14, 14), table)  # the pre-training grid: as stored
    # Traced graphs always resample; at the pre-training size that is the identity.
    grid = table.reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    same = torch.nn.functional.interpolate(grid, size=(14, 14), mode="bicubic",
                                           align_corners=False)
    torch.testing.assert_close(same.flatten(2).transpose(1, 2), table)
    with torch.no_grad():
        out = enc.tokens(torch.randn(2, 2, 96, 160), torch.tensor([0.56, 3.75]))
    assert out.shape == (2, 6 * 10, 32)


def test_published_base_layout_loads_every_encoder_tensor(tmp_path: Path) -> None:
    """A full DOFA-base state dict in torchgeo's layout (DOFABase16_Weights): 100 %."""
    state = published_state(768, 12, "torchgeo")
    path = tmp_path / "dofa_base_patch16_224.pth"
    torch.save(state, path)
    enc = DofaEncoder(dim=768, depth=12, heads=12)
    report = load_dofa_weights(enc, path, name="dofa_base", verbose=False)
    assert report.coverage == 1.0 and report.total == len(state)
    assert not report.missing and not report.unexpected and not report.mismatched
    assert torch.equal(enc.blocks[11].mlp.fc2.weight, state["blocks.11.mlp.fc2.weight"])
    assert torch.equal(enc.patch_embed.weight_generator.fc_weight.weight,
                       state["patch_embed.weight_generator.fc_weight.weight"])


@pytest.mark.parametrize("layout", ["authors", "torchgeo_model"])
def test_other_published_layouts_load_and_report_extras(tmp_path: Path, layout: str,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    obj = published_state(32, 2, layout)
    path = tmp_path / f"{layout}.pth"
    torch.save(obj, path)
    enc = _tiny()
    report = load_dofa_weights(enc, path, name="dofa")
    state = obj["model"] if layout == "authors" else obj
    assert report.coverage == 1.0
    expected = {"authors": "decoder_embed.weight", "torchgeo_model": "head.weight"}[layout]
    assert expected in report.unexpected
    assert torch.equal(enc.cls_token, state["cls_token"])
    out = capsys.readouterr().out
    assert "loaded 48/48 encoder tensors (100.0 %)" in out and "unexpected (" in out


def test_other_pretraining_size_resamples_position_table(tmp_path: Path) -> None:
    path = tmp_path / "dofa_256.pth"
    torch.save(published_state(32, 2, img=256), path)
    report = load_dofa_weights(_tiny(), path, verbose=False)
    assert report.coverage == 1.0
    assert any("pos_embed resampled" in n for n in report.notes)


def test_partial_load_is_refused_unless_allowed(tmp_path: Path) -> None:
    state = published_state(32, 2)
    for k in [k for k in state if k.startswith("blocks.1.")]:
        del state[k]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    enc = _tiny()
    before = enc.blocks[0].attn.qkv.weight.clone()
    with pytest.raises(PretrainedLoadError, match=r"only 36 of 48 tensors .* allow_partial"):
        load_dofa_weights(enc, path, verbose=False)
    assert torch.equal(enc.blocks[0].attn.qkv.weight, before)  # nothing changed
    report = load_dofa_weights(enc, path, verbose=False, allow_partial=True)
    assert len(report.missing) == 12 and torch.equal(enc.blocks[0].attn.qkv.weight,
                                                     state["blocks.0.attn.qkv.weight"])


def test_convnext_refuses_a_vit_checkpoint_clearly(tmp_path: Path) -> None:
    path = tmp_path / "dofa.pth"
    torch.save(published_state(32, 2), path)
    with pytest.raises(PretrainedLoadError, match="ViT checkpoint.*use encoder dofa_base"):
        Backbone((16, 32, 64, 128), (1, 1, 2, 1)).load_pretrained(path, verbose=False)
    with pytest.raises(PretrainedLoadError, match="0 of 57 tensors of the convnext encoder"):
        build_model("upseg_tiny", pretrained=str(path))


def test_upseg_dofa_loads_published_weights_into_its_encoder(tmp_path: Path) -> None:
    path = tmp_path / "dofa.pth"
    torch.save(published_state(96, 4, "authors", mlp_ratio=3.0), path)
    model = build_model("upseg_dofa_tiny", num_classes=2, in_channels_optical=3,
                        in_channels_sar=1, optical_bands=["red", "green", "blue"],
                        sar_bands=["sar"], pretrained=str(path), freeze_backbone=True)
    assert torch.equal(model.backbone.blocks[3].attn.proj.bias,
                       torch.load(path)["model"]["blocks.3.attn.proj.bias"])
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_patch_embedding_of_another_kernel_is_refused(tmp_path: Path) -> None:
    """A patch-14 generator (DOFA v2) fits everything else: coverage alone would pass."""
    state = published_state(32, 2, patch=14)
    path = tmp_path / "dofa_v2_like.pth"
    torch.save(state, path)
    with pytest.raises(PretrainedLoadError, match="another patch size"):
        load_dofa_weights(_tiny(), path, verbose=False)
