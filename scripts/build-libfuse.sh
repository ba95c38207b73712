#!/bin/sh
# build-libfuse.sh - builds a static libfuse 3.17.2 (Debian 13's fuse3 source) into a cache folder,
# so the mount can ask the kernel for FUSE_DIRECT_IO_ALLOW_MMAP: tensor files then reach readers in
# one copy (FOPEN_DIRECT_IO) and shared mmap of them still works. Debian 12 ships libfuse 3.14,
# which cannot ask for it. Without this build the mount falls back to page-cache mode (two copies).
# Built with IGNORE_MTAB: otherwise a root mount runs `/bin/mount -f` to update /etc/mtab (a
# symlink to /proc/mounts everywhere today: nothing to update), about 0.5 s of a cold start on a
# throttled disk. (3.17.2's meson option disable-mtab is declared but wired to nothing.)
#
#   scripts/build-libfuse.sh            build once if missing (a failure is noted and not retried)
#   scripts/build-libfuse.sh --force    try again after a failure
#   scripts/build-libfuse.sh --pc-dir   print the folder holding fuse3.pc ("" when not built)
#   scripts/build-libfuse.sh --help
#
# Folder: $TFS_LIBFUSE_DIR, else /var/cache/tensorfs/libfuse when writable, else
# ~/.cache/tensorfs/libfuse. Needs curl, meson and ninja (installed by `make deps` when root).
set -u
VER=3.17.2
DEBREV=3
TARBALL=fuse3_$VER.orig.tar.gz
# From fuse3_$VER-$DEBREV.dsc (Debian's signed source description); pinned here so a changed
# download is refused.
SHA256=3d932431ad94e86179e5265cddde1d67aa3bb2fb09a5bd35c641f86f2b5ed06f
URL=${TFS_LIBFUSE_URL:-http://deb.debian.org/debian/pool/main/f/fuse3/$TARBALL}

pick_dir() {
	if [ -n "${TFS_LIBFUSE_DIR:-}" ]; then echo "$TFS_LIBFUSE_DIR"; return; fi
	if mkdir -p /var/cache/tensorfs 2>/dev/null && [ -w /var/cache/tensorfs ]; then
		echo /var/cache/tensorfs/libfuse
	else
		echo "${HOME:-/tmp}/.cache/tensorfs/libfuse"
	fi
}
DIR=$(pick_dir)
# The install folder names the build, so a changed build gets a new path: the Makefile keeps that
# path in build/libfuse.pc and relinks when it changes.
BUILD_ID=$VER-$DEBREV-nomtab
PREFIX=$DIR/prefix-$BUILD_ID
PC=$PREFIX/lib/pkgconfig

case "${1:-}" in
--help|-h)
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
	exit 0 ;;
--pc-dir)
	[ -f "$PC/fuse3.pc" ] && echo "$PC"
	exit 0 ;;
--force)
	rm -f "$DIR/FAILED" ;;
"") ;;
*)
	echo "build-libfuse: unknown option '$1' (see --help)" >&2
	exit 2 ;;
esac

[ -f "$PC/fuse3.pc" ] && exit 0
if [ -f "$DIR/FAILED" ]; then
	exit 0 # noted once already; `make` goes on with the system libfuse
fi

fail() {
	mkdir -p "$DIR" 2>/dev/null
	echo "$*" >"$DIR/FAILED" 2>/dev/null
	echo "build-libfuse: $* - building against the system libfuse instead: tensor files use" \
	     "the page cache (two copies). Retry: scripts/build-libfuse.sh --force" >&2
	exit 0
}

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "build-libfuse: installing $2"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" \
			>/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends "$2" >/dev/null 2>&1; }
	fi
	command -v "$1" >/dev/null 2>&1 || fail "$1 not found (package $2)"
}
need curl curl
need meson meson
need ninja ninja-build

mkdir -p "$DIR" || fail "cannot create $DIR"
WORK=$(mktemp -d "$DIR/build.XXXXXX") || fail "cannot create a build folder in $DIR"
trap 'rm -rf "$WORK"' EXIT
echo "build-libfuse: fetching $URL"
curl -fsSL --retry 2 -o "$WORK/$TARBALL" "$URL" || fail "cannot download $URL"
echo "$SHA256  $WORK/$TARBALL" | sha256sum -c --status - || fail "$TARBALL: checksum mismatch"
tar -xzf "$WORK/$TARBALL" -C "$WORK" || fail "$TARBALL: cannot unpack"
SRC=$WORK/fuse-$VER
[ -d "$SRC" ] || fail "$TARBALL: no fuse-$VER folder inside"
echo "build-libfuse: building libfuse $VER (static) into $PREFIX"
(cd "$SRC" &&
 meson setup _b --prefix="$PREFIX" --libdir=lib --buildtype=release \
	-Ddefault_library=static -Dexamples=false -Dutils=false -Dtests=false \
	-Duseroot=false -Dc_args=-DIGNORE_MTAB >"$WORK/log" 2>&1 &&
 ninja -C _b >>"$WORK/log" 2>&1 &&
 ninja -C _b install >>"$WORK/log" 2>&1) || {
	tail -20 "$WORK/log" >&2
	fail "meson/ninja build of libfuse $VER failed"
}
[ -f "$PC/fuse3.pc" ] || fail "libfuse $VER installed no $PC/fuse3.pc"
# Earlier builds of other configurations are no longer used.
for old in "$DIR"/prefix "$DIR"/prefix-*; do
	[ -d "$old" ] && [ "$old" != "$PREFIX" ] && rm -rf "$old"
done
echo "build-libfuse: done ($PC)"
