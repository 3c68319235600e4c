"""int8 variant of an exported model: ONNX Runtime dynamic quantisation of the weight matrices.

Only MatMul/Gemm with constant weights are quantised (int8 weights, activations quantised per
batch at run time): that is where a ViT spends its time, and convolutions (patch embedding, neck,
decoder) stay float32, which keeps the class map close to the float model. Inputs, outputs and
the metadata are those of the float32 file, so the plugin runs it through the same contract.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx

QUANTISED_OPS = ("MatMul", "Gemm")


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    """Write the int8 variant of `src` to `dst` (metadata carried over)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        raw = Path(tmp) / "int8.onnx"
        quantize_dynamic(str(src), str(raw), weight_type=QuantType.QInt8,
                         op_types_to_quantize=list(QUANTISED_OPS))
        proto = onnx.load(str(raw))
        meta = onnx.load(str(src), load_external_data=False).metadata_props
        del proto.metadata_props[:]
        proto.metadata_props.extend(meta)
        onnx.save(proto, str(dst))
    return dst


def count_quantised(path: str | Path) -> int:
    """Number of integer MatMul nodes (a check that quantisation actually happened)."""
    proto = onnx.load(str(path), load_external_data=False)
    return sum(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul")
               for n in proto.graph.node)
