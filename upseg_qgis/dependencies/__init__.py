"""Run-time dependencies (ONNX Runtime and a numpy that QGIS's GDAL accepts): `constants` (the leaf:
versions and the plugin-private site folder), `check` (what stops inference here), `installer`
(install ONNX Runtime into the private folder) and `guard` (the user's error, with instructions)."""
