"""Evaluation of trained checkpoints: metrics (via upseg_qgis.core.accuracy.metrics) and reports."""
