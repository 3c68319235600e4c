"""Inside QGIS: set the main window up and start the configured phase once QGIS is idle."""

from __future__ import annotations

from typing import Any

from .session import Session

_SESSIONS: list[Session] = []  # referenced until QGIS exits: Qt callbacks use it


def run(cfg: dict[str, Any]) -> None:
    from qgis.PyQt.QtCore import QTimer

    from .main_phase import main_phase
    from .offer_phase import offer_phase

    session = Session(cfg)
    _SESSIONS.append(session)
    session.win.resize(1280, 870)
    session.win.move(0, 0)
    phase = main_phase if cfg["phase"] == "main" else offer_phase  # offer or install
    QTimer.singleShot(2000, session.guard(lambda: phase(session)))
