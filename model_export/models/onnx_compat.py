"""ONNX export of any UPSeg variant with dynamic batch, height and width.

Exporter choice (measured with torch 2.13, onnxscript 0.7.2, onnxruntime 1.31.1, upseg_tiny):
the TorchScript-based exporter (`dynamo=False`, `dynamic_axes`) exports in under a second; the
graph runs in ONNX Runtime at any H, W (also non-multiples of 32: the padding is computed from
the shape) and any batch, matching torch to ~1e-6, as a single 1.7 MB file at opset 17. The
torch.export-based exporter (`dynamo=True`, `dynamic_shapes`) gives the same logits but took
27-45 s for upseg_tiny on 2 shared CPU cores, cannot go below opset 18 (no Pad adapter to 17),
writes weights to a side `.data` file unless told not to, specialises the batch when the
example batch is 1, and gives a larger file (2.4 MB, symbolic shape arithmetic). Default:
TorchScript; `dynamo=True` stays available for when torch drops the TorchScript exporter.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

INPUT_NAMES: tuple[str, str] = ("optical", "sar")
OUTPUT_NAME: str = "logits"
# Same symbolic names on both inputs and the output: ONNX Runtime and readers of the model see
# that optical, SAR and logits share batch, height and width.
DYNAMIC_AXES: dict[int, str] = {0: "batch", 2: "height", 3: "width"}


def _in_channels(model: nn.Module, in_channels: tuple[int, int] | None) -> tuple[int, int]:
    if in_channels is not None:
        return in_channels
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise ValueError("model has no .config: pass in_channels=(optical, sar)")
    return int(cfg.in_channels_optical), int(cfg.in_channels_sar)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    opset: int = 17,
    example_hw: tuple[int, int] = (64, 64),
    *,
    dynamo: bool = False,
    batch: int = 2,
    in_channels: tuple[int, int] | None = None,
) -> None:
    """Export `model` (forward(optical, sar) -> logits) to `path` as a single ONNX file.

    Inputs `optical` [N, C_opt, H, W], `sar` [N, C_sar, H, W]; output `logits` [N, K, H, W];
    N, H, W dynamic. The model is traced in eval mode on its own device; its train/eval mode
    is restored afterwards. `batch` of the example is 2 so no exporter can specialise N to 1.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    c_opt, c_sar = _in_channels(model, in_channels)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    h, w = example_hw
    optical = torch.randn(batch, c_opt, h, w, device=device)
    sar = torch.randn(batch, c_sar, h, w, device=device)
    was_training = model.training
    model.eval()
    # DOFA: the wavelength-generated patch filters become constants of the graph.
    fixed = getattr(model, "fixed_patch_filters", contextlib.nullcontext)
    try:
        with torch.no_grad(), fixed():
            if dynamo:
                _export_dynamo(model, (optical, sar), path, opset)
            else:
                _export_torchscript(model, (optical, sar), path, opset)
    finally:
        model.train(was_training)
    _finalise(path, model)


def _export_torchscript(
    model: nn.Module, args: tuple[torch.Tensor, torch.Tensor], path: Path, opset: int
) -> None:
    axes = {name: dict(DYNAMIC_AXES) for name in (*INPUT_NAMES, OUTPUT_NAME)}
    with warnings.catch_warnings():
        # The legacy exporter warns that it is deprecated; it is chosen on purpose (see above).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            args,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def _export_dynamo(
    model: nn.Module, args: tuple[torch.Tensor, torch.Tensor], path: Path, opset: int
) -> None:
    shapes = {name: dict(DYNAMIC_AXES) for name in INPUT_NAMES}
    program = torch.onnx.export(
        model,
        args,
        dynamo=True,
        opset_version=max(opset, 18),  # 17 fails: onnx has no Pad down-converter
        input_names=list(INPUT_NAMES),
        output_names=[OUTPUT_NAME],
        dynamic_shapes=shapes,
        verbose=False,
    )
    assert program is not None
    program.save(str(path), external_data=False)


def _finalise(path: Path, model: nn.Module) -> None:
    """Name the output's dims (shape inference loses them after the dynamic Resize) and check."""
    proto = onnx.load(str(path))
    num_classes = getattr(getattr(model, "config", None), "num_classes", None)
    out = proto.graph.output[0]
    dims = out.type.tensor_type.shape.dim
    for axis, name in DYNAMIC_AXES.items():
        dims[axis].dim_param = name
    if num_classes is not None:
        dims[1].dim_value = int(num_classes)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
