"""UPSeg-Galileo and its ablation rows, behind the project's `forward(optical, sar)` interface.

The SAR group's tokens (S1) and the optical groups' tokens (S2_*) are the two modalities. By
`fusion_mode`:
  "upseg"        all present groups' tokens through Galileo's blocks together (its own
                 cross-group attention), and before each of the 4 blocks the attention VEM and
                 cross-modal prompts in both directions on the two modalities' token maps (the
                 optical map is the mean of its groups; a map's change is added to each group);
  "early_fusion" the same joint pass without prompts or VEM (with the linear head: the probe);
  "late_fusion"  each modality through the encoder alone, fused only in the head.
Heads: "linear" (1x1 on the final tokens, bilinear up) or "decoder" (tokens projected and
upsampled, fused with a light full-resolution convolution of the input bands so water edges stay
sharp although a token covers p x p pixels). `freeze_backbone` is prompt tuning.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from ..config import UPSegConfig
from ..layers import pad_to_multiple
from ..load_report import LoadReport
from ..prompt import CrossModalPrompt, prompt_hidden
from ..vem_attention import CrossAttentionVEM
from .checkpoint import load_galileo_weights
from .encoder import GalileoEncoder
from .inputs import galileo_inputs
from .spec import SPACE_TIME_GROUPS


class SkipDecoder(nn.Module):
    """Token maps of both modalities + a full-resolution skip from the input bands -> logits."""

    def __init__(self, dim: int, in_bands: int, classes: int, width: int, skip: int = 16,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.tokens = nn.Sequential(nn.Conv2d(2 * dim, 2 * width, 1), nn.GELU(),
                                    nn.Conv2d(2 * width, width, 1))
        self.skip = nn.Sequential(nn.Conv2d(in_bands, skip, 3, padding=1), nn.BatchNorm2d(skip),
                                  nn.GELU(), nn.Conv2d(skip, skip, 3, padding=1), nn.GELU())
        self.fuse = nn.Sequential(nn.Conv2d(width + skip, width, 3, padding=1),
                                  nn.BatchNorm2d(width), nn.GELU(), nn.Dropout2d(dropout),
                                  nn.Conv2d(width, classes, 1))

    def forward(self, m_opt: Tensor, m_sar: Tensor, bands: Tensor) -> Tensor:
        f = self.tokens(torch.cat([m_opt, m_sar], dim=1))
        f = F.interpolate(f, size=bands.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([f, self.skip(bands)], dim=1))


class LinearHead(nn.Module):
    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(2 * dim, classes, 1)

    def forward(self, m_opt: Tensor, m_sar: Tensor, bands: Tensor) -> Tensor:
        logits = self.proj(torch.cat([m_opt, m_sar], dim=1))
        return F.interpolate(logits, size=bands.shape[-2:], mode="bilinear", align_corners=False)


class GalileoSeg(nn.Module):
    """Galileo-nano segmentation model; `config.fusion_mode` and `config.galileo_head` choose the
    row (module docstring)."""

    def __init__(self, config: UPSegConfig) -> None:
        super().__init__()
        c = self.config = config
        if c.fusion_mode not in ("upseg", "early_fusion", "late_fusion"):
            raise ValueError(f"Galileo models take fusion_mode upseg, early_fusion or "
                             f"late_fusion, not {c.fusion_mode!r}")
        self.backbone = GalileoEncoder(drop_path_rate=c.drop_path_rate)
        self.inputs = galileo_inputs(c)
        dim, n = self.backbone.dim, self.backbone.num_stages
        self.vem = nn.ModuleList([CrossAttentionVEM(dim, c.vem_head_dim, c.vem_init_scale)
                                  for _ in range(n)]) if c.use_vem else None
        self.prompts = nn.ModuleList([
            CrossModalPrompt(dim, prompt_hidden(dim, c.prompt_reduction), c.prompt_init_scale)
            for _ in range(n)]) if c.use_prompts else None
        in_bands = c.in_channels_optical + c.in_channels_sar
        self.head = (LinearHead(dim, c.num_classes) if c.galileo_head == "linear" else
                     SkipDecoder(dim, in_bands, c.num_classes, c.decoder_dim,
                                 dropout=c.decoder_dropout))
        self.freeze_backbone(c.freeze_backbone)

    def freeze_backbone(self, frozen: bool = True) -> None:
        self.backbone.freeze(frozen)

    def load_pretrained(self, path: str | Path, verbose: bool = True,
                        allow_partial: bool | None = None) -> LoadReport:
        allow = self.config.pretrained_allow_partial if allow_partial is None else allow_partial
        return load_galileo_weights(self.backbone, path, allow_partial=allow, verbose=verbose)

    def set_input_statistics(self, normalisation: dict, dataset: str, units: dict) -> None:
        self.inputs.set_input_statistics(normalisation, dataset, units)

    def _tokens(self, groups: dict[str, Tensor]) -> Tensor:
        p = self.config.galileo_patch_size
        normed = {g: self.backbone.normalise(x, SPACE_TIME_GROUPS[g]) for g, x in groups.items()}
        return self.backbone.embed(normed, p)

    def _interact(self, i: int, t: Tensor, n_sar: int) -> Tensor:
        """VEM then prompts on the two modalities' maps; each map's change goes to its groups."""
        enc = self.backbone
        t_sar, t_opt = t[:, :, :, :n_sar], t[:, :, :, n_sar:]
        m_opt, m_sar = enc.as_map(t_opt), enc.as_map(t_sar)
        if self.vem is not None:
            m_opt, m_sar = self.vem[i](m_opt, m_sar)
        if self.prompts is not None:
            m_opt, m_sar = self.prompts[i](m_opt, m_sar)
        return torch.cat([enc.from_map(t_sar, m_sar), enc.from_map(t_opt, m_opt)], dim=3)

    def _encode(self, t: Tensor, n_sar: int | None) -> Tensor:
        for i in range(self.backbone.num_stages):
            if n_sar is not None and (self.vem is not None or self.prompts is not None):
                t = self._interact(i, t, n_sar)
            t = self.backbone.run_block(i, t)
        return self.backbone.norm(t)

    def token_maps(self, optical: Tensor, sar: Tensor) -> tuple[Tensor, Tensor]:
        """Padded inputs -> (optical map, SAR map), each (N, D, H/p, W/p)."""
        groups, _ = self.inputs(optical, sar)
        n_sar = len(self.inputs.sar_groups)
        if self.config.fusion_mode == "late_fusion":
            names = list(groups)
            t_sar = self._encode(self._tokens({g: groups[g] for g in names[:n_sar]}), None)
            t_opt = self._encode(self._tokens({g: groups[g] for g in names[n_sar:]}), None)
            return GalileoEncoder.as_map(t_opt), GalileoEncoder.as_map(t_sar)
        t = self._encode(self._tokens(groups), n_sar)
        return GalileoEncoder.as_map(t[:, :, :, n_sar:]), GalileoEncoder.as_map(t[:, :, :, :n_sar])

    def forward(self, optical: Tensor, sar: Tensor) -> Tensor:
        h, w = optical.shape[-2], optical.shape[-1]
        p = self.config.galileo_patch_size
        optical, sar = pad_to_multiple(optical, p), pad_to_multiple(sar, p)
        m_opt, m_sar = self.token_maps(optical, sar)
        logits = self.head(m_opt, m_sar, torch.cat([optical, sar], dim=1))
        return logits[:, :, :h, :w]
