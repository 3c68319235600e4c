"""State dicts laid out like the PUBLISHED DOFA checkpoints, built from the published names and
shapes (torchgeo's `torchgeo/models/dofa.py`, DOFA's `wave_dynamic_layer.py` / `dofa_v1.py`), not
from this project's modules. No weights can be downloaded here, so loaders are tested on these."""

from __future__ import annotations

import torch
from torch import Tensor, nn

WAVE_DIM = 128


def reference_generator_layer() -> nn.TransformerEncoder:
    """The weight generator's transformer exactly as the published code builds it."""
    layer = nn.TransformerEncoderLayer(d_model=WAVE_DIM, nhead=4, activation="gelu",
                                       norm_first=False, batch_first=False, dropout=0.0)
    return nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)


def _encoder_shapes(dim: int, depth: int, patch: int, img: int, mlp_ratio: float
                    ) -> dict[str, tuple[int, ...]]:
    pe = "patch_embed."
    shapes = {f"{pe}weight_generator.transformer_encoder.{k}": tuple(v.shape)
              for k, v in reference_generator_layer().state_dict().items()}
    shapes |= {
        f"{pe}weight_generator.fc_weight.weight": (patch * patch * dim, WAVE_DIM),
        f"{pe}weight_generator.fc_weight.bias": (patch * patch * dim,),
        f"{pe}weight_generator.fc_bias.weight": (dim, WAVE_DIM),
        f"{pe}weight_generator.fc_bias.bias": (dim,),
        f"{pe}weight_generator.weight_tokens": (128, WAVE_DIM),
        f"{pe}weight_generator.bias_token": (1, WAVE_DIM),
        f"{pe}fclayer.w1.weight": (WAVE_DIM, WAVE_DIM), f"{pe}fclayer.w1.bias": (WAVE_DIM,),
        f"{pe}fclayer.w2.weight": (WAVE_DIM, WAVE_DIM), f"{pe}fclayer.w2.bias": (WAVE_DIM,),
        "cls_token": (1, 1, dim),
        "pos_embed": (1, (img // patch) ** 2 + 1, dim),
    }
    hidden = int(dim * mlp_ratio)
    for i in range(depth):  # timm Block
        b = f"blocks.{i}."
        shapes |= {
            f"{b}norm1.weight": (dim,), f"{b}norm1.bias": (dim,),
            f"{b}attn.qkv.weight": (3 * dim, dim), f"{b}attn.qkv.bias": (3 * dim,),
            f"{b}attn.proj.weight": (dim, dim), f"{b}attn.proj.bias": (dim,),
            f"{b}norm2.weight": (dim,), f"{b}norm2.bias": (dim,),
            f"{b}mlp.fc1.weight": (hidden, dim), f"{b}mlp.fc1.bias": (hidden,),
            f"{b}mlp.fc2.weight": (dim, hidden), f"{b}mlp.fc2.bias": (dim,),
        }
    return shapes


def published_state(dim: int, depth: int, layout: str = "torchgeo", patch: int = 16,
                    img: int = 224, mlp_ratio: float = 4.0, seed: int = 0) -> dict:
    """layout: "torchgeo" (DOFABase16_Weights: encoder tensors only), "torchgeo_model" (a
    torchgeo DOFA's state_dict(): + fc_norm, head) or "authors" (DOFA MAE checkpoint: wrapped in
    "model", + final norm, mask token and the MAE decoder)."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {
        k: torch.randn(s, generator=g) * 0.02 for k, s in
        _encoder_shapes(dim, depth, patch, img, mlp_ratio).items()}
    for k in state:
        if k.endswith(("norm1.weight", "norm2.weight")):
            state[k] = 1.0 + state[k]
    if layout == "torchgeo":
        return state
    if layout == "torchgeo_model":
        return {**state, "fc_norm.weight": torch.ones(dim), "fc_norm.bias": torch.zeros(dim),
                "head.weight": torch.zeros(45, dim), "head.bias": torch.zeros(45)}
    if layout == "authors":
        dec = 64
        extra = {"norm.weight": torch.ones(dim), "norm.bias": torch.zeros(dim),
                 "mask_token": torch.zeros(1, 1, dec),
                 "decoder_embed.weight": torch.zeros(dec, dim),
                 "decoder_embed.bias": torch.zeros(dec),
                 "decoder_pos_embed": torch.zeros(1, (img // patch) ** 2 + 1, dec),
                 "decoder_norm.weight": torch.ones(dec), "decoder_norm.bias": torch.zeros(dec)}
        return {"model": {**state, **extra}, "epoch": 99}
    raise ValueError(layout)
