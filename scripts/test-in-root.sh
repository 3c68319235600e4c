#!/usr/bin/env bash
# Runs inside a root from scripts/qgis-root.sh (make test-qgis): a venv from this root's
# /usr/bin/python3 with the plugin's run-time needs and the test tools only (Debian's numpy, QGIS,
# GDAL and PyQt stay), then every test that does not need torch, against this root's QGIS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONDONTWRITEBYTECODE=1  # the checkout is shared with the host
scripts/setup-venv.sh .venv requirements/test.txt 0
.venv/bin/python - <<'PY'
import numpy, onnxruntime, sys
from osgeo import gdal
from qgis.core import Qgis
print(f"test-qgis: QGIS {Qgis.QGIS_VERSION}, Python {sys.version.split()[0]}, numpy "
      f"{numpy.__version__}, GDAL {gdal.__version__}, onnxruntime {onnxruntime.__version__}")
PY
# The Qt6 check against this QGIS's enums (its PyQt6 names list is built here, in the root's .cache).
make --no-print-directory qt6-scan
exec scripts/run-tests.sh "$@"
