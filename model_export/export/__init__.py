"""Export of trained checkpoints to self-describing ONNX files for the QGIS plugin."""
