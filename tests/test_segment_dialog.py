"""The segment dialog explains the selected model: its help starts with the model's report and
follows MODEL; the drop-down under MODEL lists the catalogue models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from upseg_qgis.core.models.store import SHIPPED_CATALOGUE


def _team_catalogue(tmp_path: Path) -> Path:
    data = json.loads(SHIPPED_CATALOGUE.read_text(encoding="utf-8"))
    entry = data["models"][0]
    entry.pop("embedded")
    entry.update(id="team-water", name="Team water model", file_name="team-water.onnx",
                 urls=["https://models.example.invalid/team-water.onnx"])
    path = tmp_path / "team.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_help_follows_the_selected_model(upseg_plugin: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from qgis.core import QgsApplication, QgsProcessingContext
    from qgis.PyQt.QtWidgets import QTextBrowser

    monkeypatch.setenv("UPSEG_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("UPSEG_CATALOGUES", str(_team_catalogue(tmp_path)))
    # pytest-qgis's iface is a MagicMock that Processing's panel cannot hand to C++ (the real
    # desktop is covered by scripts/gui_check.py).
    monkeypatch.setattr("processing.gui.ParametersPanel.iface", None)
    alg = QgsApplication.processingRegistry().createAlgorithmById("upseg:segment")
    # qgis_process help and the Toolbox show the default model's report first.
    assert alg.shortHelpString().index("Model: UPSeg-tiny water") < \
        alg.shortHelpString().index("<h3>Parameters</h3>")

    dialog = alg.createCustomParametersWidget(None)
    assert dialog is not None, "the segment dialog fell back to the standard one"
    help_panel = dialog.findChild(QTextBrowser, "textShortHelp")
    text = help_panel.toPlainText()
    from upseg_qgis.core.contract.onnx_props import read_model_metadata
    from upseg_qgis.core.engine.session import DEFAULT_MODEL

    miou = read_model_metadata(DEFAULT_MODEL).training["test_metrics"]["miou"]
    for fragment in ("Model: UPSeg-tiny water", "Optical input", "S2 B4 red",
                     "reflectance_x10000", "not water", "#0070ff", "tiles of 256 px",
                     f"mIoU {100 * miou:.1f} %", "GPL-2.0-or-later", "Optical layer (OPTICAL)"):
        assert fragment in text, fragment
    assert "Normalisation" not in text  # the compact report

    combo = dialog.model_choices
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[1] == "Embedded default model"
    assert "Team water model [team-water, 2 MiB download]" in labels
    combo.activated.emit(combo.findData("team-water"))
    assert dialog.model_value() == "team-water"
    text = help_panel.toPlainText()
    assert "Model: Team water model" in text and "not on this machine yet" in text

    dialog.mainWidget().wrappers["MODEL"].setParameterValue(str(tmp_path / "missing.onnx"),
                                                            QgsProcessingContext())
    assert "Cannot describe this model" in help_panel.toPlainText()
    combo.activated.emit(combo.findData(""))
    assert dialog.model_value() == "" and "Model: UPSeg-tiny" in help_panel.toPlainText()
    dialog.close()
