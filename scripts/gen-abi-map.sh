#!/bin/sh
# scripts/gen-abi-map.sh - writes the linker version script of libtensorfs (loader/libtensorfs.map)
# from the functions include/tensorfs.h declares: run it (`make abi-map`) after adding or removing
# a public function; `make abi` (part of `make test`) fails until the two agree.
# usage: scripts/gen-abi-map.sh [HEADER.h] > loader/libtensorfs.map
set -eu
case ${1:-} in -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
hdr=${1:-include/tensorfs.h}
echo "/* libtensorfs exports: exactly the functions of include/tensorfs.h (scripts/gen-abi-map.sh"
echo " * writes this file; scripts/check-abi.sh checks the built library against the header). */"
echo "TENSORFS_1 {"
echo "	global:"
"$(dirname "$0")/check-abi.sh" --declared "$hdr" | sed 's/^/		/; s/$/;/'
echo "	local:"
echo "		*;"
echo "};"
