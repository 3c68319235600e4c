"""The QGIS face of UPSeg: the plugin object QGIS loads (`main`), the `upseg` Processing provider,
desktop GUI and the segment dialog, model settings and access, QGIS's network stack, and Qt5/Qt6
compatibility. A thin layer over `upseg_qgis.core`; the algorithms live in
`upseg_qgis.algorithms`."""
