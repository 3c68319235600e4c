#!/usr/bin/env bash
# The project venv: `VENV` from /usr/bin/python3 with the system site packages (QGIS, GDAL, PyQt and
# Debian's numpy come from Debian), plus REQUIREMENTS and, if TRAINING, the training side.
#
#   scripts/setup-venv.sh VENV REQUIREMENTS TRAINING    (TRAINING: 1, 0 or auto)
#
# numpy: the venv keeps the system's numpy (pip may not replace it), except where the system numpy
# is 1.x and the training side is installed (Debian 12: requirements/numpy1.txt).
# TRAINING=auto: on for Debian 12 (as always), off elsewhere: on Debian 13 (Python 3.13) torch comes
# from PyPI as a multi-GB CUDA build, so it is opt-in there. Idempotent: a stamp in the venv records
# what was installed; an unchanged request returns at once.
set -euo pipefail
VENV="${1:?usage: setup-venv.sh VENV REQUIREMENTS 1|0|auto}"
REQS="${2:?}"
TRAINING="${3:-auto}"
SYS_PY=/usr/bin/python3
cd "$(dirname "${BASH_SOURCE[0]}")/.."

numpy_version="$($SYS_PY -c 'import numpy; print(numpy.__version__)')"
# shellcheck disable=SC1091
debian="$(. /etc/os-release && echo "${ID:-}-${VERSION_ID:-}")"
if [ "$TRAINING" = auto ]; then
  TRAINING=0
  [ "$debian" = debian-12 ] && TRAINING=1
fi

args=(-r "$REQS")
constraints=()
if [ "$TRAINING" = 1 ]; then
  args+=(-r requirements/training.txt)
  [ "${numpy_version%%.*}" = 1 ] && args+=(-r requirements/numpy1.txt)
fi
if [[ ! " ${args[*]} " =~ numpy1.txt ]]; then
  pin="$(mktemp)"
  trap 'rm -f "$pin"' EXIT
  echo "numpy==$numpy_version" >"$pin"
  constraints=(-c "$pin")
fi

key="$($SYS_PY --version) numpy=$numpy_version training=$TRAINING $REQS
$(cat requirements/*.txt "$0" | sha256sum)"
STAMP="$VENV/.upseg-setup"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$key" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || $SYS_PY -m venv --system-site-packages "$VENV"
if [ "$TRAINING" = 1 ]; then
  echo "setup-venv: $($SYS_PY --version), numpy $numpy_version, with the training side (torch)"
else
  echo "setup-venv: $($SYS_PY --version), numpy $numpy_version (Debian's, kept); no training side" \
    "(tests that need torch are deselected; \`make setup TRAINING=1\` adds torch)"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}" "${constraints[@]}"
# The marker says torch is there: scripts/run-tests.sh deselects the tests that need it otherwise.
if "$VENV/bin/python" -c 'import importlib.util as u; raise SystemExit(u.find_spec("torch") is None)'
then touch "$VENV/.upseg-training"; else rm -f "$VENV/.upseg-training"; fi
echo "$key" >"$STAMP"
