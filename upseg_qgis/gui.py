"""Desktop-only bits: tell the user, once per start, when ONNX Runtime is missing."""

from __future__ import annotations

from typing import Any

from qgis.core import Qgis

from .dependencies import install_instructions, runtime_problems


def offer_dependency_install(iface: Any) -> None:
    problems = runtime_problems()
    if not problems:
        return
    iface.messageBar().pushMessage(
        "UPSeg",
        " ".join(problems) + " " + install_instructions().replace("\n", " "),
        level=Qgis.Warning,
        duration=0,
    )
