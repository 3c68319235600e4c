"""Accuracy assessment of a class raster against a reference: a streamed confusion matrix, metrics
(OA, IoU, Kappa, ...) and a self-contained HTML report."""
