"""Galileo-nano (Tseng et al., ICML 2025; MIT) in this project: the encoder for S1 + S2 band
groups (our implementation of the published architecture, loading the authors' weights), its
input facts, and UPSeg-Galileo, in which the SAR group's and the optical groups' tokens are the
two modalities that prompt each other between the encoder's blocks."""

from .checkpoint import load_galileo_weights, sha256_of
from .encoder import GalileoEncoder
from .spec import INPUT_BANDS, INPUT_GROUPS, SPACE_TIME_GROUPS, complete_groups, resolve_bands

__all__ = [
    "INPUT_BANDS",
    "INPUT_GROUPS",
    "SPACE_TIME_GROUPS",
    "GalileoEncoder",
    "complete_groups",
    "load_galileo_weights",
    "resolve_bands",
    "sha256_of",
]
