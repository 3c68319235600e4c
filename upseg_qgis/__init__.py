"""UPSeg QGIS plugin: optical + SAR land-cover segmentation through ONNX Runtime.

Importing this package must stay free of QGIS and heavy imports: the inference core in
`upseg_qgis.core` is reused outside QGIS (tests, the training side's metric code).
"""

from __future__ import annotations

from typing import Any


def classFactory(iface: Any) -> Any:  # QGIS entry point; iface is None under qgis_process
    from .plugin.main import UPSegPlugin

    return UPSegPlugin(iface)
