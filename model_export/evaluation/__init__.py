"""Evaluation of trained checkpoints: metrics (via upseg_qgis.core.metrics) and reports."""
