"""Read an ONNX file's `metadata_props` without ONNX Runtime or the `onnx` package.

The model report, the catalogue tools and the dialog help need the `upseg` metadata of a file
that may be hundreds of megabytes and may be opened where ONNX Runtime is not installed. An ONNX
file is a protobuf `ModelProto`; its `metadata_props` (field 14) sit at the top level after the
graph, so this walks the top-level fields and seeks over everything else (the graph's bytes are
never read).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from .metadata import ModelMetadata
from .parsing import metadata_from_props

_GRAPH = 7
_METADATA_PROPS = 14
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class OnnxFileError(ValueError):
    """The file is not a readable ONNX model; the message says what to do."""


def _varint(f: BinaryIO, where: str) -> int | None:
    """The next varint, or None at a clean end of file."""
    value, shift = 0, 0
    while True:
        b = f.read(1)
        if not b:
            if shift == 0:
                return None
            raise OnnxFileError(f"{where} ends in the middle of a field")
        value |= (b[0] & 0x7F) << shift
        if b[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise OnnxFileError(f"{where} has a malformed field")


def _entry(data: bytes) -> tuple[str, str]:
    """A StringStringEntryProto: field 1 key, field 2 value."""
    import io

    key, value = "", ""
    f = io.BytesIO(data)
    while (tag := _varint(f, "a metadata entry")) is not None:
        field, wire = tag >> 3, tag & 7
        if wire != _LEN:
            raise OnnxFileError("a metadata entry has an unexpected field type")
        n = _varint(f, "a metadata entry") or 0
        text = f.read(n).decode("utf-8", errors="replace")
        if field == 1:
            key = text
        elif field == 2:
            value = text
    return key, value


def read_metadata_props(path: str | Path) -> dict[str, str]:
    """The `metadata_props` key -> value map of an ONNX model file."""
    path = Path(path)
    where = f"{path.name}"
    props: dict[str, str] = {}
    seen_graph = False
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            while (tag := _varint(f, where)) is not None:
                field, wire = tag >> 3, tag & 7
                if field == 0:
                    raise OnnxFileError(f"{where} has a field number 0")
                if wire == _VARINT:
                    _varint(f, where)
                elif wire in (_I64, _I32):
                    f.seek(8 if wire == _I64 else 4, 1)
                elif wire == _LEN:
                    n = _varint(f, where) or 0
                    if f.tell() + n > size:
                        raise OnnxFileError(f"{where} is truncated (a field runs past the end)")
                    if field == _METADATA_PROPS:
                        key, value = _entry(f.read(n))
                        props[key] = value
                    else:
                        seen_graph |= field == _GRAPH
                        f.seek(n, 1)
                else:
                    raise OnnxFileError(f"{where} has a field of unknown wire type {wire}")
    except OSError as exc:
        raise OnnxFileError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    except OnnxFileError as exc:
        raise OnnxFileError(
            f"{path} is not an ONNX model ({exc}). Choose an .onnx file exported by "
            "`python -m model_export export`."
        ) from None
    if not seen_graph:
        raise OnnxFileError(
            f"{path} is not an ONNX model (it has no graph). Choose an .onnx file exported by "
            "`python -m model_export export`."
        )
    return props


def read_model_metadata(path: str | Path) -> ModelMetadata:
    """The parsed `upseg` metadata of an ONNX file (MetadataError/OnnxFileError if unusable)."""
    return metadata_from_props(read_metadata_props(path), f"MODEL {Path(path).name}")
