"""The plugin object QGIS loads: registers the `upseg` Processing provider."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsApplication

from ..dependencies.constants import add_private_site_dir
from .provider import UPSegProvider


class UPSegPlugin:
    def __init__(self, iface: Any) -> None:
        self.iface = iface  # None under qgis_process: nothing here may need it
        self.provider: UPSegProvider | None = None
        add_private_site_dir()

    def initProcessing(self) -> None:
        if self.provider is None:
            self.provider = UPSegProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        self.initProcessing()
        if self.iface is not None:
            from .gui import offer_dependency_install

            offer_dependency_install(self.iface)

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
