"""GDAL access without QGIS: pixel grids and windows, reading bands as float32 with NaN for
missing pixels, sampling, on-the-fly warping onto the output grid, writing, all-or-nothing commits
of a run's files, and the output's style (colour table, .qml, attribute table, class names)."""
