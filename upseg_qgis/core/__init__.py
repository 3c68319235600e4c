"""Inference core: plain Python + numpy + GDAL + ONNX Runtime; no QGIS, no torch."""
