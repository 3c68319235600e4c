"""Baselines in the same code base and with the same `forward(optical, sar)` signature, so that
training, evaluation and export treat them exactly like UPSeg."""

from __future__ import annotations

import torch
from torch import Tensor

from .config import UPSegConfig
from .stems import ModalityStem
from .upseg import SegmentationModel, UPSeg


def _exact_zero(unused: Tensor) -> Tensor:
    """0 computed from an unused input (sum over an empty slice: exact, NaN-free), so that
    exporters keep both graph inputs and every variant has the same ONNX interface."""
    return unused[:, :0].sum()


class SingleStreamSeg(SegmentationModel):
    """One stream through the backbone: optical only, SAR only, or early fusion (the two inputs
    concatenated along channels before a single stem). The unused input is accepted and ignored
    in the single-modality baselines."""

    num_streams = 1
    modes = ("optical_only", "sar_only", "early_fusion")

    def __init__(self, config: UPSegConfig) -> None:
        if config.fusion_mode not in self.modes:
            raise ValueError(f"SingleStreamSeg needs fusion_mode in {self.modes}")
        super().__init__(config)
        in_ch = {
            "optical_only": config.in_channels_optical,
            "sar_only": config.in_channels_sar,
            "early_fusion": config.in_channels_optical + config.in_channels_sar,
        }[config.fusion_mode]
        if not config.is_vit:  # DOFA: the shared embedding takes any bands by wavelength
            self.stems[config.fusion_mode] = ModalityStem(in_ch, config.dims[0])
        self.freeze_backbone(config.freeze_backbone)

    def select_input(self, optical: Tensor, sar: Tensor) -> Tensor:
        mode = self.config.fusion_mode
        if mode == "optical_only":
            return optical + _exact_zero(sar)
        if mode == "sar_only":
            return sar + _exact_zero(optical)
        return torch.cat([optical, sar], dim=1)

    def forward_features(self, optical: Tensor, sar: Tensor) -> list[list[Tensor]]:
        mode = self.config.fusion_mode
        x = self.select_input(optical, sar)
        embed_as = {"optical_only": "optical", "sar_only": "sar"}.get(mode, mode)
        if not self.config.is_vit:
            embed_as = mode
        return [self.encode(self.embed(x, embed_as), self.grid(optical))]


class OpticalOnlySeg(SingleStreamSeg):
    pass


class SarOnlySeg(SingleStreamSeg):
    pass


class EarlyFusionSeg(SingleStreamSeg):
    pass


class LateFusionSeg(UPSeg):
    """Both modalities through the shared backbone independently, fused only in the decoder:
    UPSeg without prompts and without VEM."""

    def __init__(self, config: UPSegConfig) -> None:
        if config.use_prompts or config.use_vem:
            raise ValueError("late fusion has no prompts and no VEM")
        super().__init__(config)


MODEL_CLASSES: dict[str, type[SegmentationModel]] = {
    "upseg": UPSeg,
    "optical_only": OpticalOnlySeg,
    "sar_only": SarOnlySeg,
    "early_fusion": EarlyFusionSeg,
    "late_fusion": LateFusionSeg,
}
