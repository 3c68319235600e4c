#!/usr/bin/env bash
# System packages for UPSeg-QGIS from Debian: QGIS, GDAL, venv, pip (the plugin's dependency
# installer uses the system Python's), Xvfb. Debian 12 gives QGIS 3.22 LTR (Python 3.11, numpy 1.24),
# Debian 13 QGIS 3.40 LTR (Python 3.13, numpy 2.2): the same package names on both.
# Idempotent: returns at once when everything is already there.
set -euo pipefail

PACKAGES=(qgis python3-qgis qgis-providers python3-gdal gdal-bin python3-venv python3-pip xvfb
  xauth)

have_all() {
  [ -x /usr/bin/qgis_process.bin ] &&
    [ -x /usr/bin/xvfb-run ] &&
    /usr/bin/python3 -c "import qgis.core, osgeo.gdal, ensurepip, pip" >/dev/null 2>&1
}

if have_all; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to apt-get install ${PACKAGES[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${PACKAGES[*]} from Debian (about a minute)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
have_all || { echo "setup: QGIS or GDAL still not importable from /usr/bin/python3" >&2; exit 1; }
