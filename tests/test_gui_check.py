"""GUI proof: scripts/gui_check.py installs the plugin from its ZIP into the real QGIS desktop
(Xvfb), runs upseg:segment from its dialog, shows the styled result with its legend, and shows
the dependency offer of a QGIS without ONNX Runtime; every screenshot must have content.
About 30 s: part of `make test`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

EXPECTED = ("segment_dialog.png", "segment_model_help.png", "segment_log.png", "segment_result.png",
            "polygonize_result.png", "dependency_offer.png", "dependency_question.png")


@pytest.mark.skipif(shutil.which("xvfb-run") is None or shutil.which("qgis.bin") is None,
                    reason="needs xvfb-run and the QGIS desktop (make setup)")
def test_gui_check_in_the_qgis_desktop(shared_data: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gui_check.py"), "--out", str(tmp_path),
         "--data", str(shared_data), "--timeout", "150"],
        capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    main, offer = summary["phases"]
    assert "profiles/default/python/plugins/upseg_qgis" in main["plugin_dir"]
    assert main["provider"] == "CPUExecutionProvider"
    assert main["log_provider_lines"]  # the log says which provider ran
    assert all(line.startswith("Execution provider: CPUExecutionProvider")
               for line in main["log_provider_lines"])
    # The legend carries the model's class names (entries "value: name #colour").
    names = [entry.split(" ", 1)[1].rsplit(" ", 1)[0] for entry in main["legend"]]
    assert len(names) >= 2 and all(n and not n.startswith("class ") for n in names)
    # The dialog's help explains the selected model; the drop-down offers the catalogue.
    assert "Model: UPSeg-tiny water" in main["model_help"]
    assert "S2 B4 red" in main["model_help"] and "#0070ff" in main["model_help"]
    assert main["model_choices"][1] == "Embedded default model"
    assert main["polygonize"]["POLYGON_COUNT"] > 0
    assert sum(r["percent"] for r in main["class_areas"]) == pytest.approx(100)
    assert "ONNX Runtime is not installed" in offer["message_bar"][0]
    assert "upseg_site-packages" in offer["question"] and offer["nothing_installed"]
    for name in EXPECTED:
        assert (tmp_path / name).stat().st_size > 10_000, name
    assert all(s["nonblank"] for p in summary["phases"] for s in p["screenshots"])
