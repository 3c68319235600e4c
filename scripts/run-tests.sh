#!/usr/bin/env bash
# pytest with the project venv, offscreen, with the project-local test profile. Where the venv has
# no training side (torch), the tests that need it are deselected, and pytest says how many.
#   scripts/run-tests.sh [PYTEST ARGS...]     (VENV=.venv by default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
select=()
if [ ! -e "$VENV/.upseg-training" ]; then
  select=(-m "not torch")
  echo "test: no training side (torch) in $VENV: the tests that need it are deselected" \
    "(\`make setup TRAINING=1\` adds it)"
fi
# A crash prints every thread's stack, and the summary so far is not lost in a pipe buffer.
export PYTHONFAULTHANDLER=1 PYTHONUNBUFFERED=1
export QT_QPA_PLATFORM=offscreen XDG_DATA_HOME="$PWD/.qgis-test-profile" \
  UPSEG_QGIS_PROFILE="$PWD/.qgis-test-profile" GDAL_PAM_ENABLED=NO
exec "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider "${select[@]}" "${@:-tests}"
