"""The assembled UPSeg: modality stems, a shared 4-stage backbone in which, stage by stage, the
VEM brings out what is unique to each modality and cross-modal prompts let each modality steer
how the other is parsed, then fusion + multi-scale decoder to per-pixel logits."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from .backbone import Backbone, LoadResult, read_state_dict
from .config import UPSegConfig
from .decoder import FusionDecoder
from .layers import pad_to_multiple, resize_to
from .prompt import CrossModalPrompt, prompt_hidden
from .stems import ModalityStem
from .tile_contrast import with_tile_contrast
from .vem import VarianceEnhancement


class SegmentationModel(nn.Module):
    """Common base of UPSeg and the baselines: config, backbone, stems, decoder, pad/crop.

    `forward(optical, sar)` -> logits [N, num_classes, H, W] for any H, W: inputs are padded to
    a multiple of 32 and the logits cropped back. Subclasses implement `forward_features`.
    """

    num_streams: int = 1

    def __init__(self, config: UPSegConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(
            dims=config.dims,
            depths=config.depths,
            mlp_ratio=config.mlp_ratio,
            kernel_size=config.kernel_size,
            layer_scale_init=config.layer_scale_init,
            drop_path_rate=config.drop_path_rate,
        )
        self.stems = nn.ModuleDict()
        self.decoder = FusionDecoder(
            in_dims=config.dims,
            num_streams=self.num_streams,
            decoder_dim=config.decoder_dim,
            num_classes=config.num_classes,
            dropout=config.decoder_dropout,
        )

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
        logits = resize_to(self.decoder(self.forward_features(optical, sar)), optical)
        return logits[:, :, :h, :w]

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Parameter-efficient setting: backbone frozen, stems/prompts/VEM/decoder trainable."""
        self.backbone.freeze(frozen)

    def load_pretrained(self, path: str | Path, verbose: bool = True) -> LoadResult:
        """Load a local timm-style ConvNeXt state dict: backbone stages directly, and the RGB
        patch stem (`stem.0`, `stem.1`) adapted to every modality stem's band count."""
        result = self.backbone.load_pretrained(path, verbose=False)
        state = read_state_dict(path)
        used: set[str] = set()
        stem_w = state.get("stem.0.weight")
        for stem in self.stems.values():
            assert isinstance(stem, ModalityStem)
            if stem_w is not None and stem_w.shape[0] == stem.proj.out_channels:
                stem.load_from_rgb_stem(stem_w, state.get("stem.0.bias"))
                used.update({"stem.0.weight", "stem.0.bias"})
                norm_state = {
                    k[len("stem.1.") :]: v for k, v in state.items() if k.startswith("stem.1.")
                }
                if norm_state:
                    stem.norm.load_state_dict(norm_state)
                    used.update(f"stem.1.{k}" for k in norm_state)
        unexpected = [k for k in result.unexpected_keys if k not in used]
        result = LoadResult(result.missing_keys, unexpected, result.mismatched_keys)
        if verbose:
            print(f"[{self.config.variant}] pretrained weights from {path}")
            print(f"  stems initialised from RGB stem: {bool(used)}")
            print(f"  missing keys ({len(result.missing_keys)}): {result.missing_keys}")
            print(f"  unexpected keys ({len(result.unexpected_keys)}): {result.unexpected_keys}")
            if result.mismatched_keys:
                print(f"  shape-mismatched, skipped: {result.mismatched_keys}")
        return result


class UPSeg(SegmentationModel):
    """UPSeg (Sun et al. 2026). Per stage i, for both modalities through the SHARED backbone:
    downsample -> VEM (unique parts amplified) -> cross-modal prompts (each modality conditions
    the other) -> stage blocks. The per-stage features of both streams are fused by the decoder.
    With use_prompts=False and use_vem=False this is the late-fusion baseline."""

    num_streams = 2

    def __init__(self, config: UPSegConfig) -> None:
        super().__init__(config)
        dims = config.dims
        copies = 2 if config.input_tile_contrast else 1
        self.stems["optical"] = ModalityStem(config.in_channels_optical * copies, dims[0])
        self.stems["sar"] = ModalityStem(config.in_channels_sar * copies, dims[0])
        # Absent (not just disabled) when switched off: the ablation drops their parameters.
        self.vem: nn.ModuleList | None = None
        self.prompts: nn.ModuleList | None = None
        if config.use_vem:
            self.vem = nn.ModuleList(
                [VarianceEnhancement(d, config.vem_head_dim, config.vem_init_scale) for d in dims]
            )
        if config.use_prompts:
            self.prompts = nn.ModuleList(
                [
                    CrossModalPrompt(
                        d, prompt_hidden(d, config.prompt_reduction), config.prompt_init_scale
                    )
                    for d in dims
                ]
            )
        self.freeze_backbone(config.freeze_backbone)

    def forward_features(self, optical: Tensor, sar: Tensor) -> list[list[Tensor]]:
        x_opt = self.stems["optical"](optical)
        x_sar = self.stems["sar"](sar)
        feats_opt: list[Tensor] = []
        feats_sar: list[Tensor] = []
        for i in range(self.backbone.num_stages):
            x_opt = self.backbone.downsample(i, x_opt)
            x_sar = self.backbone.downsample(i, x_sar)
            if self.vem is not None:
                x_opt, x_sar = self.vem[i](x_opt, x_sar)
            if self.prompts is not None:
                x_opt, x_sar = self.prompts[i](x_opt, x_sar)
            x_opt = self.backbone.blocks(i, x_opt)
            x_sar = self.backbone.blocks(i, x_sar)
            feats_opt.append(x_opt)
            feats_sar.append(x_sar)
        return [feats_opt, feats_sar]
