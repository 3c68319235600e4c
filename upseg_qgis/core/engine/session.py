"""The ONNX Runtime session: which execution providers to ask for, what actually ran, the model.

`plan_providers` and `check_providers` are pure functions of (requested device, providers) so
their logic is tested without a GPU. onnxruntime-gpu lists CUDA even when CUDA/cuDNN are missing
and then silently runs on the CPU: only `session.get_providers()` tells what ran, so that is what
is reported, warned about, or (strict) refused.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..contract.metadata import ModelMetadata
from ..contract.parsing import metadata_from_props
from .gpu_probe import capi_dir, provider_problem

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
DEVICES = ("auto", "cuda", "tensorrt", "cpu")
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "upseg_default.onnx"
# Intra-op threads when the caller gives none; None: ONNX Runtime's default (one per physical
# core). `pipeline.segment` passes its own choice (`pipeline.cpu_threading`).
DEFAULT_THREADS: int | None = None
# ORT's intra-op workers spin while they wait for work by default; that burns the core the
# pipeline's reader and writer threads need (`make bench`: twice as slow end to end).
DEFAULT_SPINNING = False

# What each device asks for, best first; CPU always ends the list as the fallback.
# `auto` does not try TensorRT: building its engines takes minutes on first use.
_WANTED = {
    "auto": (CUDA,),
    "cuda": (CUDA,),
    "tensorrt": (TENSORRT, CUDA),
    "cpu": (),
}
_DEVICE_PROVIDER = {"cuda": CUDA, "tensorrt": TENSORRT}


class ModelError(RuntimeError):
    """The model file cannot be used; the message says what to do."""


class DeviceError(RuntimeError):
    """The requested device cannot run and the user asked for no fallback."""


def plan_providers(
    device: str, available: Sequence[str], strict: bool = False
) -> tuple[list[str], list[str]]:
    """(providers to request, warnings) for `device` given onnxruntime's available providers."""
    device = (device or "auto").lower()
    if device not in _WANTED:
        raise DeviceError(f"DEVICE must be one of {', '.join(DEVICES)}, not '{device}'.")
    wanted = [p for p in _WANTED[device] if p in available]
    warnings: list[str] = []
    if device in _DEVICE_PROVIDER and _DEVICE_PROVIDER[device] not in available:
        msg = (
            f"DEVICE is {device}, but this ONNX Runtime has no {_DEVICE_PROVIDER[device]} "
            f"(available: {', '.join(available) or 'none'}). Install onnxruntime-gpu with "
            "matching CUDA/cuDNN (and TensorRT) libraries"
        )
        if strict:
            raise DeviceError(msg + ", or set DEVICE to auto or cpu.")
        warnings.append(msg + "; running on the CPU instead.")
    return [*wanted, CPU], warnings


def drop_unloadable(
    device: str, requested: Sequence[str], problems: dict[str, str | None], strict: bool = False
) -> tuple[list[str], list[str]]:
    """(requested providers without those whose libraries cannot load, warnings).

    problems: provider -> why its library cannot load (gpu_probe.provider_problem) or None.
    Dropping them before ONNX Runtime tries keeps its red loader errors out of the log; the
    warning gives the loader's reason instead, once.
    """
    kept, warnings = [], []
    for p in requested:
        why = problems.get(p)
        if p == CPU or not why:
            kept.append(p)
            continue
        msg = (f"{p} cannot run here: {why}. Install the CUDA/cuDNN (and TensorRT) libraries "
               "that onnxruntime-gpu needs (user guide, section GPU)")
        if strict:
            raise DeviceError(f"DEVICE is {device} with STRICT_DEVICE set: {msg}, or turn "
                              "STRICT_DEVICE off to run on the CPU.")
        warnings.append(msg + "; the model runs on the CPU instead.")
    return kept, warnings


def check_providers(
    device: str, requested: Sequence[str], actual: Sequence[str], strict: bool = False
) -> list[str]:
    """Warnings about requested accelerators that did not run; DeviceError when strict."""
    missing = [p for p in requested if p != CPU and p not in actual]
    if not missing:
        return []
    msg = (
        f"{' and '.join(missing)} could not run (missing CUDA/cuDNN/TensorRT libraries or no "
        f"usable GPU), so ONNX Runtime runs on {', '.join(actual) or 'nothing'}"
    )
    if strict:
        raise DeviceError(
            f"DEVICE is {device} with STRICT_DEVICE set: {msg}. Install the GPU libraries that "
            "onnxruntime-gpu needs, or turn STRICT_DEVICE off to run on the CPU."
        )
    return [msg + "."]


def default_model_path() -> Path:
    return DEFAULT_MODEL


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # the algorithm checks first; this is for core users
        raise ModelError(
            f"ONNX Runtime is not installed ({exc}); install onnxruntime-gpu or onnxruntime."
        ) from exc
    return onnxruntime


def _provider_options(providers: Sequence[str]) -> list[dict[str, Any]]:
    opts: list[dict[str, Any]] = []
    for p in providers:
        if p == TENSORRT:
            # Engines are cached so only the first run pays for building them.
            cache = Path(tempfile.gettempdir()) / "upseg_trt_cache"
            opts.append({"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)})
        else:
            opts.append({})
    return opts


@dataclass
class LoadedModel:
    session: Any
    metadata: ModelMetadata
    path: Path
    requested: list[str]
    providers: list[str]  # what actually runs, from session.get_providers()
    warnings: list[str] = field(default_factory=list)
    static_hw: tuple[int, int] | None = None  # fixed H, W when the graph has them
    threads: int | None = None  # intra-op threads asked for (None: ONNX Runtime's default)
    spinning: bool = False  # idle intra-op threads spin

    @property
    def provider(self) -> str:
        return self.providers[0] if self.providers else "none"

    def run(self, optical: np.ndarray, sar: np.ndarray) -> np.ndarray:
        """Normalised batches [N, C, H, W] -> logits [N, K, H, W] (float32)."""
        (logits,) = self.session.run(
            ["logits"],
            {
                "optical": np.ascontiguousarray(optical, dtype=np.float32),
                "sar": np.ascontiguousarray(sar, dtype=np.float32),
            },
        )
        return np.asarray(logits, dtype=np.float32)


def _make_session(
    ort: Any, path: Path, providers: Sequence[str], threads: int | None, spinning: bool
) -> Any:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: ORT's warnings mean nothing to an analyst
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(
        str(path),
        sess_options=opts,
        providers=list(providers),
        provider_options=_provider_options(providers),
    )


def _dim(d: Any) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


def _check_graph(session: Any, meta: ModelMetadata, source: str) -> tuple[int, int] | None:
    """The graph's inputs/outputs agree with the metadata; returns a fixed (H, W) if any."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    missing = [n for n in ("optical", "sar") if n not in inputs]
    if missing or "logits" not in outputs:
        raise ModelError(
            f"{source} has inputs {sorted(inputs)} and outputs {sorted(outputs)}; an UPSeg "
            "model needs inputs 'optical' and 'sar' and output 'logits'. Export it with "
            "`python -m model_export export`."
        )
    static: tuple[int, int] | None = None
    for name in ("optical", "sar"):
        shape = list(inputs[name].shape)
        if len(shape) != 4:
            raise ModelError(f"{source}: input '{name}' must be [N, C, H, W], not {shape}.")
        want = meta.inputs[name].band_count
        if _dim(shape[1]) is not None and shape[1] != want:
            raise ModelError(
                f"{source}: input '{name}' takes {shape[1]} channels but its metadata lists "
                f"{want} bands. The file is inconsistent; re-export the model."
            )
        h, w = _dim(shape[2]), _dim(shape[3])
        if h and w:
            static = (h, w)
    k = list(outputs["logits"].shape)
    if len(k) == 4 and _dim(k[1]) is not None and k[1] != meta.num_classes:
        raise ModelError(
            f"{source}: output 'logits' has {k[1]} channels but the metadata lists "
            f"{meta.num_classes} classes. Re-export the model."
        )
    return static


def _model_path(path: str | os.PathLike[str] | None) -> Path:
    if path in (None, ""):
        model_path = default_model_path()
        if not model_path.is_file():
            raise ModelError(
                f"The embedded default model is missing ({model_path}). Reinstall the UPSeg "
                "plugin, or set MODEL to an .onnx file exported by `python -m model_export "
                "export`."
            )
        return model_path
    model_path = Path(path)  # type: ignore[arg-type]
    if not model_path.is_file():
        raise ModelError(f"MODEL file {model_path} does not exist. Choose an .onnx file.")
    return model_path


def _unreadable(source: str, exc: BaseException) -> ModelError:
    return ModelError(
        f"{source} is not a readable ONNX model ({str(exc).strip()[:300]}). Choose an .onnx "
        "file exported by `python -m model_export export`, or leave MODEL empty for the "
        "embedded default model."
    )


def _open_session(ort: Any, model_path: Path, requested: list[str], threads: int | None,
                  spin: bool, warnings: list[str]) -> Any:
    """The session on `requested`; when a GPU provider fails hard at creation, on the CPU
    (which tells whether the file itself is at fault)."""
    source = f"MODEL {model_path.name}"
    try:
        return _make_session(ort, model_path, requested, threads, spin)
    except Exception as first:  # noqa: BLE001 - ORT raises its own pybind exception types
        if requested == [CPU]:
            raise _unreadable(source, first) from None
        try:
            session = _make_session(ort, model_path, [CPU], threads, spin)
        except Exception as exc:  # noqa: BLE001
            raise _unreadable(source, exc) from None
        warnings.append(f"Creating the session on {', '.join(requested)} failed ({first}).")
        return session


def load_model(
    path: str | os.PathLike[str] | None = None,
    device: str = "auto",
    strict: bool = False,
    threads: int | None = None,
    spinning: bool | None = None,
) -> LoadedModel:
    """Open an UPSeg ONNX model (None/'' = the embedded default) on the requested device.

    threads: ONNX Runtime intra-op threads (None: DEFAULT_THREADS); spinning: let idle worker
    threads spin (None: DEFAULT_SPINNING). GPU providers whose libraries cannot load are not
    asked for (`gpu_probe`), so ONNX Runtime logs no loader errors; a warning says why.
    """
    ort = _ort()
    threads = threads or DEFAULT_THREADS
    spin = DEFAULT_SPINNING if spinning is None else bool(spinning)
    model_path = _model_path(path)
    requested, warnings = plan_providers(device, ort.get_available_providers(), strict)
    problems = {p: provider_problem(p, capi_dir(ort)) for p in requested if p != CPU}
    requested, more = drop_unloadable(device, requested, problems, strict)
    warnings += more
    session = _open_session(ort, model_path, requested, threads, spin, warnings)
    source = f"MODEL {model_path.name}"
    meta = metadata_from_props(dict(session.get_modelmeta().custom_metadata_map or {}), source)
    static = _check_graph(session, meta, source)
    actual = list(session.get_providers())
    warnings += check_providers(device, requested, actual, strict)
    return LoadedModel(
        session, meta, model_path, list(requested), actual, warnings, static, threads or None, spin
    )
