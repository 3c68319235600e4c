#!/usr/bin/env bash
# Debian root file systems with QGIS from Debian's own packages, for the test matrix.
#
#   scripts/qgis-root.sh TARGET [CMD ARGS...]
#
# builds the root for TARGET once (debootstrap + apt, in a cache folder outside the checkout), then
# runs CMD inside it (default: a shell) from the checkout, which is bind-mounted at its host path
# together with ../shared (read-only), so everything finds ../shared exactly as on the host.
#
# TARGET   suite                           what it gives
# 3.44     trixie + trixie-backports       QGIS 3.44, Python 3.13, numpy 2.2, GDAL 3.10
# 3.40     bookworm + bookworm-backports   QGIS 3.40, Python 3.11, numpy 1.24, GDAL 3.6
# debian13 trixie (main only)              a bare Debian 13 (make, git): a fresh host on which
#                                          the README's commands install QGIS themselves
#
# Environment: UPSEG_QGIS_ROOTS (default /var/cache/upseg-qgis/roots), UPSEG_DEBIAN_MIRROR
# (default: the mirror in the host's apt sources), UPSEG_HOST_CA (CA bundle handed to pip inside;
# default: the one the host's pip uses).
set -euo pipefail

TARGET="${1:?usage: scripts/qgis-root.sh 3.44|3.40|debian13 [CMD ARGS...]}"
shift
CHECKOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(cd "$CHECKOUT/.." && pwd)/shared"
ROOTS="${UPSEG_QGIS_ROOTS:-/var/cache/upseg-qgis/roots}"
ROOT="$ROOTS/$TARGET"
QGIS_PACKAGES=(qgis python3-qgis qgis-providers python3-gdal gdal-bin python3-venv python3-pip
  xvfb xauth make)
# Checkout folders that hold per-platform state: each root gets its own copy (a venv built for
# another Python, a profile written by another QGIS), so the host's are never touched.
PRIVATE=(.venv .cache .qgis-profile .qgis-test-profile out dist build runs)

case "$TARGET" in
  3.44) SUITE=trixie BACKPORTS=1 PACKAGES=("${QGIS_PACKAGES[@]}") ;;
  3.40) SUITE=bookworm BACKPORTS=1 PACKAGES=("${QGIS_PACKAGES[@]}") ;;
  debian13) SUITE=trixie BACKPORTS=0 PACKAGES=(make git) ;;
  *) echo "qgis-root: unknown target '$TARGET' (3.44, 3.40 or debian13)" >&2; exit 2 ;;
esac

say() { echo "qgis-root[$TARGET]: $*" >&2; }

host_mirror() {
  # The first Debian archive URI in the host's apt sources (deb822 or one-line format).
  local uri
  uri="$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
    grep -v security | head -n1)"
  [ -n "$uri" ] || uri="$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    awk '{print $2}' | grep -E 'debian/?$' | head -n1)"
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${UPSEG_DEBIAN_MIRROR:-$(host_mirror)}"
HOST_CA="${UPSEG_HOST_CA:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}"

# The stamp names what a complete root holds; a root whose stamp differs is (re)completed.
STAMP="$ROOT/.upseg-root"
stamp_text() {
  printf 'suite=%s backports=%s mirror=%s\npackages=%s\n' \
    "$SUITE" "$BACKPORTS" "$MIRROR" "${PACKAGES[*]}"
}

in_root() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$ROOT" "$@"; }

root_complete() {
  local status
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_text)" ] || return 1
  status="$(in_root dpkg-query -W -f='${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null)" || return 1
  [ "$(grep -cx installed <<<"$status")" -eq "${#PACKAGES[@]}" ]
}

debootstrap_base() {
  command -v debootstrap >/dev/null || {
    say "installing debootstrap on the host"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  say "debootstrap $SUITE from $MIRROR into $ROOT (a few minutes)"
  rm -rf "$ROOT"
  mkdir -p "$ROOTS"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$ROOT" "$MIRROR" \
    >"$ROOTS/$TARGET.debootstrap.log" 2>&1 || {
    tail -n 20 "$ROOTS/$TARGET.debootstrap.log" >&2; say "debootstrap failed"; exit 1; }
  # No service starts from package scripts inside a chroot.
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod +x "$ROOT/usr/sbin/policy-rc.d"
  touch "$ROOT/.upseg-debootstrap"
}

install_packages() {
  local sources="$ROOT/etc/apt/sources.list" target_release=()
  echo "deb $MIRROR $SUITE main" >"$sources"
  if [ "$BACKPORTS" = 1 ]; then
    echo "deb $MIRROR $SUITE-backports main" >>"$sources"
    target_release=(-t "$SUITE-backports")
  fi
  say "apt-get install ${PACKAGES[*]} ${target_release[*]}"
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${target_release[@]}" "${PACKAGES[@]}" >"$ROOTS/$TARGET.apt.log" 2>&1 || {
    tail -n 20 "$ROOTS/$TARGET.apt.log" >&2; say "apt-get install failed"; exit 1; }
  in_root apt-get clean
  stamp_text >"$STAMP"
}

# --- everything below runs in a private mount namespace (see the end of the file) ---

MOUNTED=()
unmount_all() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount -R "${MOUNTED[$i]}" 2>/dev/null || umount -lR "${MOUNTED[$i]}" 2>/dev/null || true
  done
}

mount_at() {  # mount_at TARGET_IN_ROOT mount-args...
  local where="$ROOT$1"
  shift
  mkdir -p "$where"
  mount "$@" "$where"
  MOUNTED+=("$where")
}

mount_system() {
  mount_at /proc -t proc proc
  mount_at /sys -t sysfs sysfs
  mount_at /dev --rbind /dev
  # DNS and the host's trust store for pip (the root's own bundle fails TLS verification here).
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  cp -L "$HOST_CA" "$ROOT/etc/ssl/certs/upseg-host-ca.crt"
}

mount_checkout() {
  mount_at "$CHECKOUT" --bind "$CHECKOUT"
  if [ -d "$SHARED" ]; then
    mount_at "$SHARED" --bind "$SHARED"
    mount -o remount,bind,ro "$ROOT$SHARED"
  fi
  # One private set per checkout path: a venv holds its own absolute path (script shebangs),
  # so a venv made for one clone must not serve another.
  local d key
  key="$(printf '%s' "$CHECKOUT" | sha256sum | cut -c1-12)"
  for d in "${PRIVATE[@]}"; do
    mkdir -p "$ROOT/var/lib/upseg-private/$key/$d" "$CHECKOUT/$d"
    mount_at "$CHECKOUT/$d" --bind "$ROOT/var/lib/upseg-private/$key/$d"
  done
}

inside() {
  trap unmount_all EXIT
  trap 'exit 130' INT TERM
  mount_system
  root_complete || install_packages
  mount_checkout
  [ $# -gt 0 ] || set -- bash -l
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PIP_CERT=/etc/ssl/certs/upseg-host-ca.crt CI="${CI:-}" UPSEG_QGIS_TARGET="$TARGET" \
    chroot "$ROOT" /bin/sh -c 'cd "$0" && exec "$@"' "$CHECKOUT" "$@"
}

if [ "${UPSEG_QGIS_ROOT_INSIDE:-}" = 1 ]; then
  inside "$@"
  exit
fi
[ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, mount, chroot)"; exit 1; }
[ -f "$ROOT/.upseg-debootstrap" ] || debootstrap_base
# Mounts live in a private namespace: never seen by the host, gone when it ends, whatever happens.
UPSEG_QGIS_ROOT_INSIDE=1 exec unshare --mount --propagation private -- "$0" "$TARGET" "$@"
