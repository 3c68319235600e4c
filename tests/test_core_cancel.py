"""Cancelling returns within a bounded time, even while a read or a model run is slow."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.toy_model import build_toy_model, geographic_scene
from upseg_qgis.core.engine import session
from upseg_qgis.core.raster import reading
from upseg_qgis.core.run.pipeline import (
    CancelledError,
    Reporter,
    RuntimeOptions,
    TilingOptions,
    output_exists,
    segment,
)

SLOW = 3.0  # seconds per slow call: far longer than the bound asserted below
BOUND = 1.5  # cancel -> CancelledError raised, in seconds (POLL_SECONDS is 0.1)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cancel")
    opt, sar = geographic_scene(d, width=100, height=80)
    return {"optical": opt, "sar": sar, "model": build_toy_model(d / "toy.onnx")}


def _cancel_after(seconds: float) -> tuple[Reporter, dict[str, float]]:
    when: dict[str, float] = {}

    def cancelled() -> bool:
        now = time.perf_counter()
        when.setdefault("start", now)
        if now - when["start"] >= seconds:
            when.setdefault("cancel", now)
            return True
        return False

    return Reporter(is_cancelled=cancelled), when


def _run_and_time(scene: dict[str, Path], out: Path, report: Reporter,
                  when: dict[str, float], runs: int) -> float:
    with pytest.raises(CancelledError):
        segment(str(scene["optical"]), str(scene["sar"]), str(out), model=str(scene["model"]),
                confidence=str(out.with_name("conf.tif")), report=report,
                tiling=TilingOptions(tile_size=32, overlap=4, batch_size=2),
                runtime=RuntimeOptions(device="cpu", prefetch=True, parallel_runs=runs))
    return time.perf_counter() - when["cancel"]


def test_cancel_while_a_read_is_slow(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that takes SLOW seconds (a network drive, a large JPEG 2000) is not waited for:
    the reader thread finishes it on its own and stops."""
    real = reading.StripReader.read_window

    def slow(self: reading.StripReader, *args: int) -> np.ndarray:
        time.sleep(SLOW)
        return real(self, *args)

    monkeypatch.setattr(reading.StripReader, "read_window", slow)
    report, when = _cancel_after(0.5)
    took = _run_and_time(scene, tmp_path / "out.tif", report, when, runs=1)
    assert took < BOUND, f"cancel took {took:.2f} s"
    assert not output_exists(tmp_path / "out.tif") and not output_exists(tmp_path / "conf.tif")


def test_cancel_while_the_model_is_slow(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With runs in parallel (the CPU default) the calling thread waits for them with a
    timeout, so a slow batch (a large tile on a busy CPU) does not hold a cancelled run."""
    real = session.LoadedModel.run

    def slow(self: session.LoadedModel, opt: np.ndarray, sar: np.ndarray) -> np.ndarray:
        time.sleep(SLOW)
        return real(self, opt, sar)

    monkeypatch.setattr(session.LoadedModel, "run", slow)
    report, when = _cancel_after(0.5)
    took = _run_and_time(scene, tmp_path / "out.tif", report, when, runs=2)
    assert took < BOUND, f"cancel took {took:.2f} s"
    assert not output_exists(tmp_path / "out.tif")
