"""What every phase inside QGIS shares: the result record it writes for the driver, waiting for
Qt to paint, screenshots, and installing the plugin with QGIS's own "Install from ZIP" code."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Session:
    """One phase's run in one QGIS: its configuration, the main window and the result."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        from qgis.PyQt.QtWidgets import QApplication
        from qgis.utils import iface

        self.cfg = cfg
        self.iface = iface
        self.app = QApplication.instance()
        self.win = iface.mainWindow()
        self.out_dir = Path(cfg["out_dir"])
        self.result: dict[str, Any] = {"phase": cfg["phase"], "steps": [], "screenshots": [],
                                       "ok": False}
        self.keep: list[Any] = []  # dialogs Python must not garbage-collect while they show

    def log(self, msg: str) -> None:
        self.result["steps"].append(msg)

    def done(self, ok: bool, error: str | None = None) -> None:
        """Write the result for the driver and leave QGIS at once."""
        self.result["ok"] = ok
        if error:
            self.result["error"] = error
        Path(self.cfg["result"]).write_text(json.dumps(self.result, indent=1), encoding="utf-8")
        os._exit(0)  # no teardown: nothing to save, and no "save project?" question

    def guard(self, fn: Callable[..., Any]) -> Callable[..., None]:
        """`fn` for a Qt callback: any exception ends the phase as failed, with its traceback."""
        def wrapped(*args: Any) -> None:
            try:
                fn(*args)
            except Exception:
                self.done(False, traceback.format_exc())
        return wrapped

    def settle(self, ms: int = 800) -> None:
        """Let Qt paint (the event loop runs while we wait)."""
        end = time.time() + ms / 1000
        while time.time() < end:
            self.app.processEvents()
            time.sleep(0.02)

    def shot(self, widget: Any, name: str, what: str) -> None:
        self.settle()
        path = self.out_dir / name
        if not widget.grab().save(str(path)):
            raise RuntimeError(f"could not save {path}")
        self.result["screenshots"].append({"file": str(path), "shows": what})

    def install_from_zip(self) -> None:
        import pyplugin_installer.installer as installer
        import qgis.utils
        from qgis.core import QgsApplication

        installer.pluginInstaller.installFromZipFile(self.cfg["zip"])
        self.settle(500)
        if "upseg_qgis" not in qgis.utils.active_plugins:
            raise RuntimeError(f"upseg_qgis not active after install: {qgis.utils.active_plugins}")
        alg = QgsApplication.processingRegistry().algorithmById("upseg:segment")
        if alg is None:
            raise RuntimeError("upseg:segment not registered after install")
        where = Path(sys.modules["upseg_qgis"].__file__).parent
        self.log(f"installed from ZIP into {where}")
        self.result["plugin_dir"] = str(where)
