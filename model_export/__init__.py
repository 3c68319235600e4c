"""Training side of UPSeg-QGIS: PyTorch UPSeg, data readers, training, evaluation, ONNX export."""

__version__ = "0.1.0"
