"""Desktop-only: at load, say when inference cannot run (ONNX Runtime missing, a numpy that
QGIS's GDAL cannot use), and offer to install
ONNX Runtime into the plugin-private folder (`dependencies.installer`), in the background, then
tell the user exactly what happened.

Nothing here runs under qgis_process (iface is None there).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from qgis.core import QgsApplication, QgsMessageLog, QgsTask
from qgis.PyQt.QtWidgets import QMessageBox, QPushButton

from ..dependencies.check import runtime_problems
from . import qt_compat as qt

# Running tasks and open message widgets must stay referenced, or Qt/Python drops them.
_KEEP: dict[str, Any] = {}


def onnxruntime_missing() -> bool:
    return importlib.util.find_spec("onnxruntime") is None


def offer_dependency_install(iface: Any) -> None:
    """Push one message-bar warning when inference cannot run; with an 'Install' button when
    ONNX Runtime is what is missing."""
    problems = runtime_problems()
    if not problems:
        return
    bar = iface.messageBar()
    text = " ".join(problems)
    if not onnxruntime_missing():  # e.g. a foreign numpy in QGIS: ours to explain, not to change
        bar.pushMessage("UPSeg", text, level=qt.WARNING, duration=0)
        return
    widget = bar.createMessage("UPSeg", text + " Segmentation needs it.")
    button = QPushButton("Install ONNX Runtime…")
    button.clicked.connect(lambda: ask_and_install(iface))
    widget.layout().addWidget(button)
    _KEEP["message"] = bar.pushWidget(widget, qt.WARNING)


def ask_and_install(iface: Any) -> None:
    from ..dependencies.installer import manual_instructions, plan_install

    plan = plan_install()
    parent = iface.mainWindow()
    if plan.problems:
        QMessageBox.warning(parent, "UPSeg: cannot install ONNX Runtime",
                            " ".join(plan.problems) + "\n\n" + manual_instructions(plan))
        return
    box = QMessageBox(QMessageBox.Icon.Question, "UPSeg: install ONNX Runtime?",
                      f"Install {plan.requirement} with pip into\n"
                      f"{plan.target}\n\nOnly that folder is written; QGIS's own Python "
                      f"packages, numpy included, are not touched.\n\n{plan.choice}",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setDetailedText("Commands:\n" + "\n".join(plan.command_lines()))
    box.exec()
    if box.standardButton(box.clickedButton()) != QMessageBox.StandardButton.Yes:
        return
    _start_install(iface, plan)


def _start_install(iface: Any, plan: Any) -> None:
    from ..dependencies.installer import run_install

    def work(task: QgsTask) -> Any:
        return run_install(plan)

    def finished(exception: Exception | None, report: Any = None) -> None:
        _KEEP.pop("task", None)
        bar = iface.messageBar()
        if "message" in _KEEP:
            bar.popWidget(_KEEP.pop("message"))
        if exception is not None or report is None:
            text = f"The installer stopped: {exception}"
            QgsMessageLog.logMessage(text, "UPSeg", qt.CRITICAL)
            QMessageBox.critical(iface.mainWindow(), "UPSeg", text)
            return
        QgsMessageLog.logMessage(report.message + "\n\n" + report.details, "UPSeg",
                                 qt.INFO if report.ok else qt.CRITICAL)
        box = QMessageBox(QMessageBox.Icon.Information if report.ok else QMessageBox.Icon.Critical,
                          "UPSeg: ONNX Runtime installed" if report.ok
                          else "UPSeg: ONNX Runtime not installed",
                          report.message, QMessageBox.StandardButton.Ok, iface.mainWindow())
        box.setDetailedText(report.details)
        box.exec()

    task = QgsTask.fromFunction(f"Installing {plan.requirement} for UPSeg", work,
                                on_finished=finished)
    _KEEP["task"] = task
    QgsApplication.taskManager().addTask(task)
    iface.messageBar().pushMessage(
        "UPSeg", f"Installing {plan.requirement} in the background (see the task bar)…",
        level=qt.INFO, duration=10)
