"""Whether ONNX Runtime's GPU providers can load here, found out quietly.

onnxruntime-gpu lists CUDA (and TensorRT) as available whether or not the CUDA, cuDNN and
TensorRT libraries they need are installed. Asking for them without those libraries makes ONNX
Runtime print red "Failed to load library ..." errors on every run before it falls back to the
CPU. Loading the provider's library ourselves (as ONNX Runtime would) tells the same thing
without a sound, with the system loader's own reason, e.g. "libcublasLt.so.13: cannot open
shared object file". Only a missing library counts as a problem here: any other failure is left
for ONNX Runtime to try and to explain.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from pathlib import Path

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
_LIBRARIES = {CUDA: "onnxruntime_providers_cuda", TENSORRT: "onnxruntime_providers_tensorrt"}
# What the loaders say when a library or one of its dependencies is not there.
_MISSING = ("cannot open shared object file", "could not find module", "image not found",
            "no such file")


def _file_name(stem: str) -> str:
    if sys.platform.startswith("win"):
        return f"{stem}.dll"
    return f"lib{stem}.so"


def _load(path: Path, global_symbols: bool = False) -> None:
    mode = getattr(os, "RTLD_GLOBAL", 0) if global_symbols else getattr(os, "RTLD_LOCAL", 0)
    ctypes.CDLL(str(path), mode=mode)


@functools.cache
def provider_problem(provider: str, capi_dir: str) -> str | None:
    """Why `provider`'s library cannot load (the loader's message), or None when it loads or
    cannot be checked here. `capi_dir`: the onnxruntime/capi folder holding the libraries."""
    stem = _LIBRARIES.get(provider)
    if stem is None:
        return None
    path = Path(capi_dir) / _file_name(stem)
    if not path.is_file():
        return None  # another layout: let ONNX Runtime decide
    try:
        shared = Path(capi_dir) / _file_name("onnxruntime_providers_shared")
        if shared.is_file():
            _load(shared, global_symbols=True)  # ONNX Runtime loads it first, the same way
        _load(path)
    except OSError as exc:
        text = str(exc).strip()
        return text if any(m in text.lower() for m in _MISSING) else None
    return None


def capi_dir(ort_module: object) -> str:
    return str(Path(getattr(ort_module, "__file__", "") or ".").resolve().parent / "capi")
