#!/bin/sh
# Installs the Debian packages tensorfs needs to build and test, skipping those already present.
#   scripts/install-deps.sh          build and test
#   scripts/install-deps.sh bench    those, plus what `make bench` compares against and draws with
#                                    (bindfs, python3-matplotlib)
case "${1:-}" in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac
set -e
PKGS="build-essential pkg-config libfuse3-dev fuse3 libjansson-dev libxxhash-dev libcmocka-dev
      python3-numpy attr valgrind python3-torch xxd clang-14 libclang-rt-14-dev
      libcurl4-openssl-dev libssl-dev nginx-light curl"
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
