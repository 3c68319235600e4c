"""UPSeg in PyTorch: modality stems (or DOFA's wavelength-conditioned embedding), a shared
encoder (ConvNeXt stages or DOFA ViT block groups), cross-modal prompts, the
Variance Enhancement Module (VEM), a fusion + multi-scale decoder, baselines and a registry.

    from model_export.models import build_model
    model = build_model("upseg_tiny", num_classes=7, in_channels_optical=4, in_channels_sar=2)
    logits = model(optical, sar)  # [N, K, H, W] for any H, W
"""

from .backbone import Backbone, ConvNeXtBlock, LoadResult, read_state_dict
from .baselines import (
    EarlyFusionSeg,
    LateFusionSeg,
    OpticalOnlySeg,
    SarOnlySeg,
    SingleStreamSeg,
)
from .config import FUSION_MODES, OUTPUT_STRIDE, UPSegConfig
from .decoder import FusionDecoder
from .dofa import DofaEncoder, load_dofa_weights
from .layers import LayerNorm2d, count_parameters, pad_to_multiple
from .load_report import LoadReport, PretrainedLoadError
from .neck import MultiScaleNeck
from .onnx_compat import export_onnx
from .prompt import CrossModalPrompt, PromptGenerator
from .registry import (
    DEFAULT_MODEL,
    build_model,
    build_model_from_config,
    list_models,
    model_config,
    register_model,
)
from .stems import ModalityStem
from .upseg import SegmentationModel, UPSeg
from .vem import VarianceEnhancement
from .vem_attention import CrossAttentionVEM

__all__ = [
    "DEFAULT_MODEL",
    "FUSION_MODES",
    "OUTPUT_STRIDE",
    "Backbone",
    "ConvNeXtBlock",
    "CrossAttentionVEM",
    "DofaEncoder",
    "LoadReport",
    "MultiScaleNeck",
    "PretrainedLoadError",
    "load_dofa_weights",
    "CrossModalPrompt",
    "EarlyFusionSeg",
    "FusionDecoder",
    "LateFusionSeg",
    "LayerNorm2d",
    "LoadResult",
    "ModalityStem",
    "OpticalOnlySeg",
    "PromptGenerator",
    "SarOnlySeg",
    "SegmentationModel",
    "SingleStreamSeg",
    "UPSeg",
    "UPSegConfig",
    "VarianceEnhancement",
    "build_model",
    "build_model_from_config",
    "count_parameters",
    "export_onnx",
    "list_models",
    "model_config",
    "pad_to_multiple",
    "read_state_dict",
    "register_model",
]
