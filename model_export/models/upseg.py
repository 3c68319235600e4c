"""The assembled UPSeg: modality embedding, a shared encoder (ConvNeXt stages or DOFA ViT block
groups, models/encoders.py) in which, stage by stage, the VEM brings out what is unique to each
modality and cross-modal prompts let each modality steer how the other is parsed, then (for the
ViT) a multi-scale neck, fusion and the multi-scale decoder to per-pixel logits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor, nn

from .backbone import read_state_dict
from .bands import wavelength_of
from .config import UPSegConfig
from .decoder import FusionDecoder
from .dofa.checkpoint import load_dofa_weights
from .encoders import build_encoder, wavelength_buffer
from .layers import pad_to_multiple, resize_to
from .load_report import LoadReport
from .neck import MultiScaleNeck
from .prompt import CrossModalPrompt, prompt_hidden
from .stems import ModalityStem
from .tile_contrast import with_tile_contrast
from .vem import VarianceEnhancement
from .vem_attention import CrossAttentionVEM


class SegmentationModel(nn.Module):
    """Common base of UPSeg and the baselines: config, encoder, embedding, neck, decoder, pad/crop.

    `forward(optical, sar)` -> logits [N, num_classes, H, W] for any H, W: inputs are padded to
    a multiple of the encoder's stride and the logits cropped back. Subclasses implement
    `forward_features`.
    """

    num_streams: int = 1

    def __init__(self, config: UPSegConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = build_encoder(config)
        self.stems = nn.ModuleDict()  # ConvNeXt: one patch stem per modality
        self.neck: nn.Module = nn.Identity()
        self._fixed_filters: dict[str, tuple[Tensor, Tensor]] | None = None
        if config.is_vit:
            assert config.vit_dim is not None
            self.neck = MultiScaleNeck(config.vit_dim, config.neck_dim)
            # Each modality's band wavelengths, fixed in the model (and so in exported graphs).
            for m in ("optical", "sar"):
                self.register_buffer(f"wavelengths_{m}", wavelength_buffer(config, m),
                                     persistent=False)
        self.decoder = FusionDecoder(
            in_dims=config.feature_dims,
            num_streams=self.num_streams,
            decoder_dim=config.decoder_dim,
            num_classes=config.num_classes,
            dropout=config.decoder_dropout,
        )

    def wavelengths(self, modality: str) -> Tensor:
        if modality == "early_fusion":
            return torch.cat([self.wavelengths("optical"), self.wavelengths("sar")])
        return getattr(self, f"wavelengths_{modality}")

    def embed(self, x: Tensor, modality: str) -> Tensor:
        """Input bands -> encoder state: the modality's stem, or DOFA's shared embedding fed
        the modality's wavelengths."""
        if not self.config.is_vit:
            return self.stems[modality](x)
        waves = self.wavelengths(modality)
        filters = self._fixed_filters.get(modality) if self._fixed_filters else None
        return self.backbone.embed(x, waves, filters)

    @contextmanager
    def fixed_patch_filters(self) -> Iterator[None]:
        """Within: DOFA's patch filters are computed once per modality, so an exported graph
        holds them as constants (they depend only on the wavelengths fixed in the model)."""
        if self.config.is_vit:  # computed before any tracing starts: constants, not ops
            with torch.no_grad():
                self._fixed_filters = {
                    m: self.backbone.patch_embed.filters(self.wavelengths(m))
                    for m in ("optical", "sar", "early_fusion")}
        try:
            yield
        finally:
            self._fixed_filters = None

    def grid(self, x: Tensor) -> tuple[int, int]:
        s = self.config.output_stride
        return x.shape[-2] // s, x.shape[-1] // s

    def encode(self, x: Tensor, grid: tuple[int, int]) -> list[Tensor]:
        """One stream through every stage, no cross-modal parts -> per-stage maps."""
        feats = []
        for i in range(self.backbone.num_stages):
            x = self.backbone.run_blocks(i, self.backbone.enter(i, x))
            feats.append(self.backbone.as_map(x, grid))
        return feats

    def forward_features(self, optical: Tensor, sar: Tensor) -> list[list[Tensor]]:
        """Padded inputs -> streams[s][i]: stage-i features of each stream."""
        raise NotImplementedError

    def forward(self, optical: Tensor, sar: Tensor) -> Tensor:
        h, w = optical.shape[-2], optical.shape[-1]
        if self.config.input_tile_contrast:
            optical, sar = with_tile_contrast(optical), with_tile_contrast(sar)
        stride = self.config.output_stride
        optical = pad_to_multiple(optical, stride)
        sar = pad_to_multiple(sar, stride)
        streams = [self.neck(s) if self.config.is_vit else s
                   for s in self.forward_features(optical, sar)]
        logits = resize_to(self.decoder(streams), optical)
        return logits[:, :, :h, :w]

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Visual prompt tuning: encoder frozen; stems/prompts/VEM/neck/decoder trainable."""
        self.backbone.freeze(frozen)

    def load_pretrained(self, path: str | Path, verbose: bool = True,
                        allow_partial: bool | None = None) -> LoadReport:
        """Load a local encoder checkpoint: DOFA (authors' or torchgeo layout) into the ViT, or a
        timm-style ConvNeXt into the stages with the RGB stem mapped onto each modality's bands
        by meaning. Below 95 % of the encoder's tensors: PretrainedLoadError, unless allowed."""
        allow = self.config.pretrained_allow_partial if allow_partial is None else allow_partial
        if self.config.is_vit:
            return load_dofa_weights(self.backbone, path, name=self.config.encoder,
                                     allow_partial=allow, verbose=verbose)
        report = self.backbone.load_pretrained(path, verbose=False, allow_partial=allow)
        self._load_stems(read_state_dict(path), report)
        if verbose:
            print(report.text(), flush=True)
        return report

    def _load_stems(self, state: dict[str, Tensor], report: LoadReport) -> None:
        stem_w = state.get("stem.0.weight")
        if stem_w is None:
            report.notes.append("no RGB stem (stem.0.weight) in the checkpoint: stems stay random")
            return
        norm_state = {k[len("stem.1."):]: v for k, v in state.items() if k.startswith("stem.1.")}
        for name, stem in self.stems.items():
            assert isinstance(stem, ModalityStem)
            if stem_w.shape[0] != stem.proj.out_channels:
                report.notes.append(f"stem {name}: RGB stem width {stem_w.shape[0]} does not fit")
                continue
            bands = self._band_names(name)
            waves = [wavelength_of([b]) for b in bands] if bands else None
            mapping = stem.load_from_rgb_stem(stem_w, state.get("stem.0.bias"), waves)
            if norm_state:
                stem.norm.load_state_dict(norm_state)
            report.notes.append(f"stem {name}: " + "; ".join(mapping)
                                + ("" if bands else " (band names unknown: set "
                                   f"{name}_bands to map filters by meaning)"))
        report.unexpected = [k for k in report.unexpected
                             if not k.startswith(("stem.0.", "stem.1."))]

    def _band_names(self, stem: str) -> list[str] | None:
        cfg = self.config
        if stem == "early_fusion":
            if cfg.optical_bands is None or cfg.sar_bands is None:
                return None
            return [*cfg.optical_bands, *cfg.sar_bands]
        names = cfg.optical_bands if stem in ("optical", "optical_only") else cfg.sar_bands
        return list(names) if names is not None else None


class UPSeg(SegmentationModel):
    """UPSeg (Sun et al. 2026). Per stage i, for both modalities through the SHARED encoder:
    enter (ConvNeXt downsample) -> VEM (unique parts amplified) -> cross-modal prompts (each
    modality conditions the other) -> stage blocks. With the DOFA encoder the stages are groups of
    ViT blocks and VEM is cross-modal attention. With use_prompts=False and use_vem=False this is
    the late-fusion baseline."""

    num_streams = 2

    def __init__(self, config: UPSegConfig) -> None:
        super().__init__(config)
        dims = self.backbone.stage_dims
        if not config.is_vit:
            copies = 2 if config.input_tile_contrast else 1
            self.stems["optical"] = ModalityStem(config.in_channels_optical * copies, dims[0])
            self.stems["sar"] = ModalityStem(config.in_channels_sar * copies, dims[0])
        # Absent (not just disabled) when switched off: the ablation drops their parameters.
        self.vem: nn.ModuleList | None = None
        self.prompts: nn.ModuleList | None = None
        if config.use_vem:
            self.vem = nn.ModuleList([self._vem(d) for d in dims])
        if config.use_prompts:
            self.prompts = nn.ModuleList(
                [CrossModalPrompt(d, prompt_hidden(d, config.prompt_reduction),
                                  config.prompt_init_scale) for d in dims])
        self.freeze_backbone(config.freeze_backbone)

    def _vem(self, dim: int) -> nn.Module:
        c = self.config
        if c.is_vit:
            return CrossAttentionVEM(dim, c.vem_head_dim, c.vem_init_scale)
        return VarianceEnhancement(dim, c.vem_head_dim, c.vem_init_scale)

    def forward_features(self, optical: Tensor, sar: Tensor) -> list[list[Tensor]]:
        enc, grid = self.backbone, self.grid(optical)
        x_opt, x_sar = self.embed(optical, "optical"), self.embed(sar, "sar")
        feats_opt: list[Tensor] = []
        feats_sar: list[Tensor] = []
        for i in range(enc.num_stages):
            x_opt, x_sar = enc.enter(i, x_opt), enc.enter(i, x_sar)
            if self.vem is not None or self.prompts is not None:
                m_opt, m_sar = enc.as_map(x_opt, grid), enc.as_map(x_sar, grid)
                if self.vem is not None:
                    m_opt, m_sar = self.vem[i](m_opt, m_sar)
                if self.prompts is not None:
                    m_opt, m_sar = self.prompts[i](m_opt, m_sar)
                x_opt, x_sar = enc.from_map(x_opt, m_opt), enc.from_map(x_sar, m_sar)
            x_opt, x_sar = enc.run_blocks(i, x_opt), enc.run_blocks(i, x_sar)
            feats_opt.append(enc.as_map(x_opt, grid))
            feats_sar.append(enc.as_map(x_sar, grid))
        return [feats_opt, feats_sar]
