"""`python -m model_export export`: a checkpoint -> one self-describing ONNX file.

Steps: load the checkpoint, export the graph (inputs `optical`, `sar`, output `logits`, dynamic
N/H/W), optionally simplify it, write the `upseg` metadata (docs/metadata.md), run
`onnx.checker`, and check parity with torch on real patches prepared by the plugin's own
`InputSpec.prepare`, so the metadata's normalisation is tested along with the graph. Nothing is
written at the output path unless every step passed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from upseg_qgis.core.contract.metadata import METADATA_KEY, ModelMetadata
from upseg_qgis.core.contract.parsing import parse_metadata

from .metadata_builder import build_metadata
from .options import OPSET, ExportOptions, export_options
from .parity import check_parity

__all__ = ["OPSET", "ExportOptions", "attach_metadata", "export_checkpoint", "export_options",
           "onnx_metadata"]


def attach_metadata(model_proto: onnx.ModelProto, meta: dict[str, Any]) -> None:
    """Replace any existing `upseg` entry with `meta` as JSON."""
    keep = [p for p in model_proto.metadata_props if p.key != METADATA_KEY]
    del model_proto.metadata_props[:]
    model_proto.metadata_props.extend(keep)
    entry = model_proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(meta, separators=(",", ":"))
    model_proto.producer_name = "upseg-qgis model_export"


def simplify(model_proto: onnx.ModelProto) -> onnx.ModelProto:
    """Constant folding and dead-node removal with onnxscript's optimizer (ships with the
    dynamo exporter)."""
    import onnxscript.optimizer

    return onnxscript.optimizer.optimize(model_proto)


def to_fp16(model_proto: onnx.ModelProto) -> onnx.ModelProto:
    """Half-precision weights and compute for GPUs; inputs and outputs stay float32 so the
    plugin feeds it exactly like the fp32 file."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model_proto, keep_io_types=True)


def real_patches(
    ckpt: dict[str, Any], meta: ModelMetadata, count: int, batch: int, data_root: str | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of real test patches in model input form (converted, clipped, normalised by the
    metadata, i.e. exactly what the plugin will feed)."""
    from model_export.data import build_dataset

    data_cfg = dict((ckpt.get("config") or {}).get("data") or {"dataset": ckpt["dataset"]["name"]})
    data_cfg.pop("max_samples", None)
    if data_root:
        data_cfg["data_root"] = data_root
        data_cfg.pop("root", None)
    dataset = build_dataset(data_cfg, "test")
    n = min(count, len(dataset))
    for start in range(0, n, batch):
        samples = [dataset[i] for i in range(start, min(n, start + batch))]
        opt = np.stack([meta.optical.prepare(np.asarray(s["optical"]), meta.optical.units)
                        for s in samples])
        sar = np.stack([meta.sar.prepare(np.asarray(s["sar"]), meta.sar.units) for s in samples])
        yield np.nan_to_num(opt).astype(np.float32), np.nan_to_num(sar).astype(np.float32)


def export_checkpoint(checkpoint: str | os.PathLike[str], output: str | os.PathLike[str],
                      options: ExportOptions) -> dict[str, Any]:
    """Export and verify; returns a report dict. Raises on any failure, leaving no output.

    ``options.input_statistics``: compute the training inputs' statistics (reads the training
    split once) for the plugin's check. `export_options(name, version, ...)` builds the options.
    """
    from model_export.training.checkpoint import load_for_inference

    from .input_statistics import checkpoint_input_statistics

    model, ckpt = load_for_inference(str(checkpoint))
    model.eval()
    o = options
    stats = checkpoint_input_statistics(ckpt, o.data_root) if o.input_statistics else None
    meta_dict = build_metadata(ckpt, o.model, input_statistics=stats,
                               multiple_of=int(getattr(model.config, "output_stride", 32)))
    meta = parse_metadata(meta_dict)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"output": str(output), "opset": o.opset}

    def patches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return real_patches(ckpt, meta, o.parity_patches, 4, o.data_root)

    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        proto = export_graph(model, meta_dict, Path(tmp) / "raw.onnx", o.opset, o.optimize)
        final_tmp = Path(tmp) / "final.onnx"
        onnx.save(proto, str(final_tmp))
        report["parity"] = check_parity(model, str(final_tmp), patches(), atol=o.atol).as_dict()
        variants = []
        if o.fp16:
            variants.append(_fp16_variant(model, proto, Path(tmp), output, patches(), report))
        if o.int8:
            variants.append(_int8_variant(model, final_tmp, output, patches(),
                                          o.min_int8_agreement, report))
        for tmp_file, final in variants:  # only once every check passed
            os.replace(tmp_file, final)
        os.replace(final_tmp, output)  # atomic: the output appears only when all checks passed
    return {**report, "size_bytes": output.stat().st_size,
            "metadata": {"name": meta.name, "variant": meta.variant, "classes": len(meta.classes)}}


def export_graph(model: Any, meta: dict[str, Any], raw_path: Path, opset: int,
                 optimize: bool) -> onnx.ModelProto:
    """The model's graph with `meta` attached, optionally simplified, through onnx.checker."""
    from model_export.models.onnx_compat import export_onnx

    export_onnx(model, str(raw_path), opset=opset)
    proto = onnx.load(str(raw_path))
    if optimize:
        proto = simplify(proto)
    attach_metadata(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _fp16_variant(model: Any, proto: onnx.ModelProto, tmp: Path, output: Path,
                  patches: Iterator[tuple[np.ndarray, np.ndarray]],
                  report: dict[str, Any]) -> tuple[Path, Path]:
    """The checked fp16 file in `tmp` and where it goes; its parity into `report`."""
    fp16_tmp = tmp / "fp16.onnx"
    onnx.save(to_fp16(proto), str(fp16_tmp))
    # fp16 is for GPUs: argmax agreement matters, logits may differ by ~1e-2.
    report["fp16_parity"] = check_parity(model, str(fp16_tmp), patches, atol=0.25,
                                         min_agreement=0.99).as_dict()
    final = output.with_name(output.stem + "_fp16.onnx")
    report["fp16_output"] = str(final)
    return fp16_tmp, final


def _int8_variant(model: Any, final_tmp: Path, output: Path,
                  patches: Iterator[tuple[np.ndarray, np.ndarray]], min_agreement: float,
                  report: dict[str, Any]) -> tuple[Path, Path]:
    """The checked int8 file beside `final_tmp` and where it goes; its parity into `report`."""
    from .quantize import count_quantised, quantize_int8

    int8_tmp = quantize_int8(final_tmp, final_tmp.with_name("int8.onnx"))
    # int8 changes logits by far more than 1e-4: the class map is what is checked.
    report["int8_parity"] = check_parity(model, str(int8_tmp), patches, atol=float("inf"),
                                         min_agreement=min_agreement).as_dict()
    report["int8_parity"]["quantised_matmuls"] = count_quantised(int8_tmp)
    final = output.with_name(output.stem + "_int8.onnx")
    report["int8_output"] = str(final)
    return int8_tmp, final


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export export", description=__doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--output", required=True, help="the .onnx file to write")
    p.add_argument("--name", help="model name in the metadata (default: output file stem)")
    p.add_argument("--model-version", default="0.1.0")
    p.add_argument("--description", default="")
    p.add_argument("--metrics", help="JSON of `model_export evaluate` on the test split")
    p.add_argument("--tile-size", type=int, default=None,
                   help="tile size in the metadata (default: the encoder's: 256, Galileo 128)")
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--opset", type=int, default=OPSET)
    p.add_argument("--no-optimize", action="store_true", help="skip graph simplification")
    p.add_argument("--fp16", action="store_true", help="also write <output>_fp16.onnx for GPUs")
    p.add_argument("--int8", action="store_true",
                   help="also write <output>_int8.onnx (ONNX Runtime dynamic quantisation; "
                   "argmax agreement with torch must be >= 98 %%)")
    p.add_argument("--parity-patches", type=int, default=16)
    p.add_argument("--data-root", default=None)
    p.add_argument("--report", help="write the export report as JSON here")
    p.add_argument("--temperature", type=float, help="softmax temperature fitted on validation "
                   "data (calibration.temperature in the metadata)")
    p.add_argument("--no-input-statistics", action="store_true",
                   help="do not store the training inputs' statistics (no plugin input check)")
    args = p.parse_args(argv)
    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    report = export_checkpoint(args.checkpoint, args.output, export_options(
        args.name or Path(args.output).stem, args.model_version,
        description=args.description, test_metrics=metrics,
        tile_size=args.tile_size, overlap=args.overlap, opset=args.opset,
        optimize=not args.no_optimize, fp16=args.fp16, int8=args.int8,
        parity_patches=args.parity_patches,
        data_root=args.data_root,
        calibration={"temperature": args.temperature, "method": "temperature scaling"}
        if args.temperature else None,
        input_statistics=not args.no_input_statistics,
    ))
    text = json.dumps(report, indent=2)
    if args.report:
        Path(args.report).write_text(text + "\n")
    print(text)
    return 0


def onnx_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The decoded `upseg` metadata of an ONNX file (validated)."""
    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    from upseg_qgis.core.contract.parsing import metadata_from_props

    return metadata_from_props(props, str(path)).raw
