"""Loading a local timm-style (ConvNeXt layout) checkpoint; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_export.models import Backbone, build_model, model_config


def _timm_convnext_shapes(dims: tuple[int, ...], depths: tuple[int, ...], kernel: int = 7,
                          mlp_ratio: float = 3.0) -> dict[str, tuple[int, ...]]:
    """timm's convnext_* stage keys and shapes, written from timm's layout (not from the
    project's Backbone): downsample = LayerNorm + 2x2 conv before stages 1.., blocks = depthwise
    conv, LayerNorm, MLP, layer scale `gamma`."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (d, n) in enumerate(zip(dims, depths, strict=True)):
        if i:
            p = f"stages.{i}.downsample"
            shapes |= {f"{p}.0.weight": (dims[i - 1],), f"{p}.0.bias": (dims[i - 1],),
                       f"{p}.1.weight": (d, dims[i - 1], 2, 2), f"{p}.1.bias": (d,)}
        h = int(d * mlp_ratio)
        for j in range(n):
            p = f"stages.{i}.blocks.{j}"
            shapes |= {f"{p}.gamma": (d,), f"{p}.conv_dw.weight": (d, 1, kernel, kernel),
                       f"{p}.conv_dw.bias": (d,), f"{p}.norm.weight": (d,), f"{p}.norm.bias": (d,),
                       f"{p}.mlp.fc1.weight": (h, d), f"{p}.mlp.fc1.bias": (h,),
                       f"{p}.mlp.fc2.weight": (d, h), f"{p}.mlp.fc2.bias": (d,)}
    return shapes


def _fake_timm_checkpoint(path: Path, dims: tuple[int, ...], depths: tuple[int, ...]) -> dict:
    """A state dict laid out like timm's convnext_*: stem.0/1, stages.*, head.*, wrapped the
    way training frameworks save it (`state_dict`, `module.` prefix)."""
    torch.manual_seed(42)
    state = {k: torch.randn(shape) for k, shape in _timm_convnext_shapes(dims, depths).items()}
    state["stem.0.weight"] = torch.randn(dims[0], 3, 4, 4)
    state["stem.0.bias"] = torch.randn(dims[0])
    state["stem.1.weight"] = torch.randn(dims[0])
    state["stem.1.bias"] = torch.randn(dims[0])
    state["head.norm.weight"] = torch.randn(dims[-1])
    state["head.fc.weight"] = torch.randn(1000, dims[-1])
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    return state


def test_backbone_and_stems_load_by_band_meaning(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = model_config("upseg_tiny")
    path = tmp_path / "convnext_like.pth"
    state = _fake_timm_checkpoint(path, cfg.dims, cfg.depths)
    # GID's band order (NIR first) and Sentinel-1 VV/VH: filters follow meaning, not position.
    model = build_model("upseg_tiny", pretrained=str(path), freeze_backbone=True,
                        optical_bands=["nir", "red", "green", "blue"], sar_bands=["vv", "vh"])

    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, state[k]), k
    rgb = state["stem.0.weight"]
    w = model.stems["optical"].proj.weight  # rescaled by 3/4 for 4 bands
    assert torch.allclose(w[:, 0], rgb.mean(1) * 0.75)  # NIR: no RGB filter of its own
    assert torch.allclose(w[:, 1:4], rgb * 0.75)  # red, green, blue <- R, G, B
    sar = model.stems["sar"].proj.weight  # VV/VH never get the red and green filters
    assert torch.allclose(sar[:, 0], rgb.mean(1) * 1.5) and torch.allclose(sar[:, 1], sar[:, 0])
    assert torch.equal(model.stems["sar"].norm.weight, state["stem.1.weight"])
    assert all(not p.requires_grad for p in model.backbone.parameters())

    out = capsys.readouterr().out
    assert "loaded 57/57 encoder tensors (100.0 %)" in out and "missing (0)" in out
    assert "unexpected (2): head.fc.weight, head.norm.weight" in out
    assert "band 0 (0.842 um) <- mean RGB; band 1 (0.665 um) <- red" in out


def test_unknown_band_names_never_copy_filters_by_position(tmp_path: Path) -> None:
    cfg = model_config("upseg_tiny")
    path = tmp_path / "convnext_like.pth"
    state = _fake_timm_checkpoint(path, cfg.dims, cfg.depths)
    model = build_model("upseg_tiny", pretrained=str(path))
    w = model.stems["optical"].proj.weight
    for band in range(4):
        assert torch.allclose(w[:, band], state["stem.0.weight"].mean(1) * 0.75)


def test_missing_and_mismatched_keys_are_reported(tmp_path: Path) -> None:
    cfg = model_config("upseg_tiny")
    path = tmp_path / "partial.pth"
    state = _fake_timm_checkpoint(path, cfg.dims, cfg.depths)
    state.pop("stages.3.blocks.0.gamma")
    state["stages.0.blocks.0.conv_dw.weight"] = torch.randn(16, 1, 3, 3)
    torch.save(state, path)
    backbone = Backbone(cfg.dims, cfg.depths, mlp_ratio=3.0)
    before = backbone.stages[0].blocks[0].conv_dw.weight.clone()
    result = backbone.load_pretrained(path, verbose=False)
    assert result.missing_keys == [
        "stages.0.blocks.0.conv_dw.weight",
        "stages.3.blocks.0.gamma",
    ]
    assert result.mismatched_keys == ["stages.0.blocks.0.conv_dw.weight"]
    assert "stem.0.weight" in result.unexpected_keys
    assert torch.equal(backbone.stages[0].blocks[0].conv_dw.weight, before)


def test_missing_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        build_model("upseg_tiny", pretrained=str(tmp_path / "nope.pth"))
