#!/bin/sh
# Install the Debian packages a target needs, when they are missing and we
# can (root with apt-get).  Usage: ensure-deps.sh build|test|run|linux
#   build: what `make` (all: p2mctl, the cmocka unit tests, benchmarks) needs
#   linux: the Linux guest runs (tests/hv/linux.py)
set -e
case "$1" in
  build) pkgs="gcc make libcmocka-dev" ;;
  test) pkgs="gcc make libcmocka-dev python3-pytest qemu-system-x86 bochs bochsbios vgabios nasm libc6-dev busybox-static ovmf gnu-efi mtools" ;;
  run)  pkgs="gcc make python3-matplotlib" ;;
  linux) pkgs="gcc libc6-dev busybox-static qemu-system-x86 bochs bochsbios vgabios ovmf gnu-efi mtools" ;;
  *) echo "usage: $0 build|test|run|linux" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing:$missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null; }
else
  echo "missing Debian packages:$missing (install them as root: apt-get install$missing)" >&2
  exit 1
fi
