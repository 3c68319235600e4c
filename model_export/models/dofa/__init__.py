"""DOFA (Dynamic One-For-All) encoder: wavelength-conditioned patch embedding + ViT, and loading
of its published checkpoints from local files."""

from .checkpoint import load_dofa_weights, match_state
from .vit import DOFA_SIZES, DofaEncoder, dofa_encoder, group_ends
from .wave_embed import WEIGHT_ORDERS, DynamicPatchEmbed

__all__ = ["DOFA_SIZES", "WEIGHT_ORDERS", "DofaEncoder", "DynamicPatchEmbed", "dofa_encoder",
           "group_ends", "load_dofa_weights", "match_state"]
