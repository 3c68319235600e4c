"""ONNX Runtime session: provider choice (pure logic, tested on the CPU) and model checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.toy_model import build_toy_model, toy_metadata
from upseg_qgis.core.contract.metadata import MetadataError
from upseg_qgis.core.engine.session import (
    CPU,
    CUDA,
    TENSORRT,
    DeviceError,
    ModelError,
    check_providers,
    load_model,
    plan_providers,
)

ALL = [TENSORRT, CUDA, CPU]


def test_plan_providers() -> None:
    assert plan_providers("auto", ALL) == ([CUDA, CPU], [])
    assert plan_providers("auto", [CPU]) == ([CPU], [])
    assert plan_providers("cpu", ALL) == ([CPU], [])
    assert plan_providers("cuda", ALL) == ([CUDA, CPU], [])
    assert plan_providers("tensorrt", ALL) == ([TENSORRT, CUDA, CPU], [])
    providers, warns = plan_providers("cuda", [CPU])
    assert providers == [CPU] and "no CUDAExecutionProvider" in warns[0]
    with pytest.raises(DeviceError, match="no CUDAExecutionProvider"):
        plan_providers("cuda", [CPU], strict=True)
    with pytest.raises(DeviceError, match="DEVICE must be one of"):
        plan_providers("gpu", ALL)


def test_check_providers_fallback_warns_or_fails() -> None:
    # onnxruntime-gpu lists CUDA, but without CUDA/cuDNN the session runs on the CPU.
    warns = check_providers("auto", [CUDA, CPU], [CPU])
    assert warns and "could not run" in warns[0]
    with pytest.raises(DeviceError, match="STRICT_DEVICE"):
        check_providers("cuda", [CUDA, CPU], [CPU], strict=True)
    with pytest.raises(DeviceError):
        check_providers("auto", [CUDA, CPU], [CPU], strict=True)
    assert check_providers("cpu", [CPU], [CPU], strict=True) == []
    assert check_providers("cuda", [CUDA, CPU], [CUDA, CPU], strict=True) == []


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_toy_model(tmp_path_factory.mktemp("session") / "toy.onnx")


def test_load_on_cpu(toy: Path) -> None:
    lm = load_model(toy, "cpu")
    assert lm.providers == [CPU] and lm.provider == CPU and not lm.warnings
    assert lm.metadata.name == "toy_water" and lm.static_hw is None


def test_auto_reports_what_actually_ran(toy: Path) -> None:
    """What is reported is what the session runs; a GPU that ONNX Runtime lists but that did
    not run is always explained (here: CUDA listed, its libraries missing -> CPU + warning)."""
    import onnxruntime as ort

    lm = load_model(toy, "auto")
    listed = CUDA in ort.get_available_providers()
    assert lm.providers == list(lm.session.get_providers())
    if lm.provider == CUDA:
        assert not lm.warnings
        return
    assert lm.providers == [CPU]
    assert len(lm.warnings) == (1 if listed else 0), lm.warnings
    if listed:
        assert "cannot run" in lm.warnings[0] or "could not run" in lm.warnings[0]
        with pytest.raises(DeviceError, match="STRICT_DEVICE"):
            load_model(toy, "cuda", strict=True)


class _FakeSession:
    """A real CPU session that reports `ran` as its providers (what a GPU machine would)."""

    def __init__(self, real: object, ran: list[str]) -> None:
        self._real, self._ran = real, ran

    def get_providers(self) -> list[str]:
        return self._ran

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def _fake_ort(monkeypatch: pytest.MonkeyPatch, problem: str | None, ran: list[str]
              ) -> list[list[str]]:
    """onnxruntime as on a machine listing CUDA; `problem`: what the library probe finds;
    `ran`: the providers the session then reports. Returns the provider lists asked for."""
    import types

    import onnxruntime as ort

    from upseg_qgis.core.engine import session

    asked: list[list[str]] = []

    def inference_session(path: str, sess_options: object, providers: list[str],
                          provider_options: object) -> _FakeSession:
        asked.append(list(providers))
        real = ort.InferenceSession(path, sess_options=sess_options, providers=[CPU])
        return _FakeSession(real, [p for p in ran if p in providers] or [CPU])

    fake = types.SimpleNamespace(get_available_providers=lambda: [CUDA, CPU],
                                 SessionOptions=ort.SessionOptions,
                                 InferenceSession=inference_session, __file__=ort.__file__)
    monkeypatch.setattr(session, "_ort", lambda: fake)
    monkeypatch.setattr(session, "provider_problem", lambda provider, capi: problem)
    return asked


def test_a_gpu_whose_libraries_are_missing_is_not_asked_for(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    why = "libcublasLt.so.13: cannot open shared object file: No such file or directory"
    asked = _fake_ort(monkeypatch, why, [CUDA, CPU])
    lm = load_model(toy, "auto")
    assert asked == [[CPU]] and lm.providers == [CPU]  # ONNX Runtime never tried CUDA
    assert len(lm.warnings) == 1 and why in lm.warnings[0] and "on the CPU" in lm.warnings[0]
    with pytest.raises(DeviceError, match="libcublasLt.*STRICT_DEVICE"):
        load_model(toy, "cuda", strict=True)


def test_a_gpu_that_loads_is_asked_for_and_reported(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _fake_ort(monkeypatch, None, [CUDA, CPU])
    lm = load_model(toy, "auto")
    assert asked == [[CUDA, CPU]] and lm.provider == CUDA and not lm.warnings
    # The libraries load, yet the session falls back (no device, driver too old): said so.
    _fake_ort(monkeypatch, None, [CPU])
    lm = load_model(toy, "cuda")
    assert lm.provider == CPU and "could not run" in lm.warnings[0]


def test_no_red_onnx_runtime_errors_without_cuda(
    toy: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """On a machine without CUDA (this one), a run logs one clear line and ONNX Runtime itself
    nothing: no "Failed to load library ... libonnxruntime_providers_cuda.so"."""
    import onnxruntime as ort

    capfd.readouterr()
    lm = load_model(toy, "auto")
    err = capfd.readouterr().err
    assert "Failed to load library" not in err and "[E:onnxruntime" not in err, err
    if CUDA in ort.get_available_providers() and lm.provider == CPU:
        assert len(lm.warnings) == 1 and ".so" in lm.warnings[0]


def test_the_probe_reports_only_missing_libraries(tmp_path: Path) -> None:
    from upseg_qgis.core.engine.gpu_probe import provider_problem

    (tmp_path / "libonnxruntime_providers_cuda.so").write_bytes(b"not a library")
    assert provider_problem(CUDA, str(tmp_path)) is None  # another failure: ORT will explain
    assert provider_problem(CUDA, str(tmp_path / "none")) is None  # no library file to try
    assert provider_problem(CPU, str(tmp_path)) is None


def test_static_shape_is_read(tmp_path: Path) -> None:
    lm = load_model(build_toy_model(tmp_path / "s.onnx", static_hw=(32, 32)), "cpu")
    assert lm.static_hw == (32, 32)


def test_corrupt_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x08\x07 this is not a protobuf" * 10)
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_model(bad, "cpu")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_model(bad, "auto")
    text = tmp_path / "model.onnx"
    text.write_text("hello")
    with pytest.raises(ModelError):
        load_model(text, "cpu")
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.onnx", "cpu")


def test_onnx_without_upseg_metadata(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="no 'upseg' metadata"):
        load_model(build_toy_model(tmp_path / "plain.onnx", metadata=False), "cpu")


def test_metadata_that_disagrees_with_the_graph(tmp_path: Path) -> None:
    meta = toy_metadata()
    meta["classes"].append({"value": 2, "name": "cloud", "colour": "#ffffff"})
    with pytest.raises(ModelError, match="2 channels but the metadata lists 3 classes"):
        load_model(build_toy_model(tmp_path / "k.onnx", metadata=meta), "cpu")
    meta = toy_metadata()
    meta["schema_version"] = 99
    with pytest.raises(MetadataError, match="schema version"):
        load_model(build_toy_model(tmp_path / "v.onnx", metadata=meta), "cpu")
