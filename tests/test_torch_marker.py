"""The `torch` marker comes from the source (tests/torch_deps.py), so the legs without torch
(make test-qgis, Debian 13 without TRAINING=1) deselect exactly those tests and say how many."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import torch_deps
from tests.conftest import ROOT

TESTS = ROOT / "tests"


def test_modules_importing_torch_directly_or_through_the_repository() -> None:
    assert torch_deps.module_path_needs_torch(TESTS / "test_model_vem.py")  # import torch
    assert torch_deps.module_path_needs_torch(TESTS / "test_training_ddp.py")  # via model_export
    assert not torch_deps.module_path_needs_torch(TESTS / "test_metrics.py")
    assert not torch_deps.module_path_needs_torch(TESTS / "test_otsu.py")  # torch-free helper
    assert torch_deps.module_needs_torch("model_export.data")
    assert not torch_deps.module_needs_torch("upseg_qgis.core.run.pipeline")


def test_single_tests_that_reach_torch_lazily() -> None:
    # importorskip("torch") in the test itself
    assert torch_deps.function_needs_torch(TESTS / "test_evaluate.py",
                                           "test_agrees_with_the_training_side_evaluate_model")
    # a repository function that imports model_export.data (torch) inside its body
    assert torch_deps.function_needs_torch(
        TESTS / "test_default_model.py", "test_default_model_water_iou_on_ombria_test_matches_card")
    assert not torch_deps.function_needs_torch(TESTS / "test_default_model.py",
                                               "test_model_card_names_its_limits")
    assert torch_deps.fixture_needs_torch("torch_one_thread", TESTS / "test_metrics.py")


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, UPSEG_TESTS_WITHOUT_TORCH="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_without_torch_the_tests_are_deselected_and_counted() -> None:
    proc = _pytest("-m", "not torch", "tests/test_model_vem.py", "tests/test_otsu.py")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "2 passed, 5 deselected" in proc.stdout  # test_model_vem.py has 5 tests
    assert "deselected 5 tests that need torch" in proc.stdout


def test_without_torch_and_unselected_they_fail_loudly() -> None:
    proc = _pytest("tests/test_model_vem.py")
    assert proc.returncode == 1
    assert "5 failed" in proc.stdout and "make setup TRAINING=1" in proc.stdout
