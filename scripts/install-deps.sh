#!/bin/sh
# Installs the Debian packages tensorfs needs to build and test, skipping those already present.
#   scripts/install-deps.sh          build and test
#   scripts/install-deps.sh bench    those, plus what `make bench` compares against and draws with
#                                    (bindfs, python3-matplotlib)
set -e
PKGS="build-essential pkg-config libfuse3-dev fuse3 libjansson-dev libxxhash-dev libcmocka-dev
      python3-numpy attr valgrind python3-torch xxd clang-14 libclang-rt-14-dev"
[ "${1:-}" = bench ] && PKGS="$PKGS bindfs python3-matplotlib"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: need root to install:$missing (run: sudo make deps)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
