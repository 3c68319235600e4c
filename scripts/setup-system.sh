#!/usr/bin/env bash
# System packages for UPSeg-QGIS from Debian: QGIS, GDAL, venv, pip (the plugin's dependency
# installer uses the system Python's), Xvfb. metadata.txt claims QGIS 3.40 or newer, so that is
# what the host must run: Debian 13 (trixie) has QGIS 3.40 LTR in its own suite (Python 3.13,
# numpy 2.2); Debian 12 (bookworm) has only 3.22 there, so QGIS comes from bookworm-backports
# (3.40 LTR, Python 3.11, Debian's GDAL 3.6 and numpy 1.24), a suite added with the host's own
# mirror when the sources lack it. Same package names everywhere.
# Idempotent: returns at once when everything is already there.
set -euo pipefail

PACKAGES=(qgis python3-qgis qgis-providers python3-gdal gdal-bin python3-venv python3-pip xvfb
  xauth)
MIN_QGIS=34000 # Qgis.QGIS_VERSION_INT of 3.40, metadata.txt's qgisMinimumVersion
CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

have_all() {
  [ -x /usr/bin/qgis_process.bin ] &&
    [ -x /usr/bin/xvfb-run ] &&
    /usr/bin/python3 -c "import qgis.core, osgeo.gdal, ensurepip, pip, sys
sys.exit(qgis.core.Qgis.QGIS_VERSION_INT < $MIN_QGIS)" >/dev/null 2>&1
}

# The host's Debian mirror for its own suite (deb822 .sources or one-line .list), so a host on
# a local mirror or a snapshot never reaches for another one.
host_mirror() {
  local m
  m=$(awk -v s="$CODENAME" '/^$/{u=""} /^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==s && u!=""){print u; exit}}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(sed -E 's/\[[^]]*\]//' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk -v s="$CODENAME" '$1=="deb" && $3==s {print $2; exit}' || true)
  echo "${m:-http://deb.debian.org/debian}"
}

has_suite() {
  grep -Eqs "(^|[[:space:]])$1([[:space:]]|$)" /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources
}

if have_all; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to apt-get install ${PACKAGES[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
TARGET=()
if [ "$CODENAME" = bookworm ]; then
  if ! has_suite bookworm-backports; then
    mirror=$(host_mirror)
    echo "setup: adding bookworm-backports from $mirror (QGIS 3.40 LTR; bookworm itself has 3.22)"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
      "$mirror" /usr/share/keyrings/debian-archive-keyring.gpg |
      $SUDO tee /etc/apt/sources.list.d/upseg-qgis-backports.sources >/dev/null
  fi
  TARGET=(-t bookworm-backports)
fi
echo "setup: installing ${PACKAGES[*]} from Debian ${CODENAME:-?} ${TARGET[*]} (a minute or two)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${TARGET[@]}" \
  "${PACKAGES[@]}" >/dev/null
have_all || { echo "setup: QGIS >= 3.40 or GDAL still not importable from /usr/bin/python3" >&2; exit 1; }
