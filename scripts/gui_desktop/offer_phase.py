"""Phases "offer" and "install" (QGIS without ONNX Runtime): the plugin's message-bar offer and
the question it asks before installing; "offer" answers No (nothing installed), "install"
answers Yes, captures the installer's report and runs upseg:segment with what it installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .session import Session


def offer_phase(s: Session) -> None:
    from qgis.core import QgsApplication
    from qgis.PyQt.QtCore import QTimer

    s.install_from_zip()
    s.settle(1000)
    button = _install_button(s)
    s.shot(s.win, "dependency_offer.png",
           "QGIS without ONNX Runtime: the plugin's message bar with the Install button")
    install = s.cfg["phase"] == "install"
    site = Path(QgsApplication.qgisSettingsDirPath()) / "python" / "upseg_site-packages"
    QTimer.singleShot(1500, s.guard(lambda: _answer_question(s, install, site)))
    button.click()  # modal question: the timer answers it
    if not install:
        s.result["nothing_installed"] = not site.exists()
        s.done(True)


def _install_button(s: Session) -> Any:
    """The Install button of the plugin's message bar item (its texts into the result)."""
    from qgis.PyQt.QtWidgets import QPushButton

    texts = []
    button = None
    for item in s.iface.messageBar().items():
        texts.append(item.text())
        for b in item.findChildren(QPushButton):
            if "Install" in b.text():
                button = b
    s.result["message_bar"] = texts
    if button is None:
        raise RuntimeError(f"no install button in the message bar: {texts}")
    return button


def _answer_question(s: Session, install: bool, site: Path) -> None:
    from qgis.PyQt.QtWidgets import QApplication, QMessageBox

    box = QApplication.activeModalWidget()
    if box is None:
        raise RuntimeError("no confirmation dialog appeared")
    s.result["question"] = box.text() if hasattr(box, "text") else ""
    if install:
        # a real install, in the background task
        box.button(QMessageBox.StandardButton.Yes).click()
        _wait_for_report(s, site, 0)
    else:
        s.shot(box, "dependency_question.png",
               "the confirmation asked before installing (answered No here)")
        box.reject()


def _wait_for_report(s: Session, site: Path, waited: float) -> None:
    """Poll once a second for the installer's report (a message box), up to the time limit."""
    from qgis.PyQt.QtCore import QTimer
    from qgis.PyQt.QtWidgets import QApplication, QMessageBox

    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox) and "ONNX Runtime" in box.windowTitle():
        s.result["report_title"] = box.windowTitle()
        s.result["report"] = box.text()
        s.shot(box, "dependency_installed.png",
               "the installer's report after answering Yes (a real pip install)")
        box.accept()
        QTimer.singleShot(500, s.guard(lambda: _after_install(s, site)))
    elif waited > s.cfg["install_timeout"]:
        raise RuntimeError("no installer report within the time limit")
    else:
        QTimer.singleShot(1000, s.guard(lambda: _wait_for_report(s, site, waited + 1)))


def _after_install(s: Session, site: Path) -> None:
    """upseg:segment in the same QGIS session with the freshly installed ONNX Runtime."""
    import processing

    res = processing.run("upseg:segment", {
        "OPTICAL": s.cfg["optical"], "SAR": s.cfg["sar"], "MODEL": s.cfg["model"],
        "OUTPUT": s.cfg["output"]})
    s.result["provider_after_install"] = res["PROVIDER"]
    s.result["installed_into"] = str(site)
    s.done(True)
