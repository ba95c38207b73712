#!/bin/sh
# scripts/check-abi.sh - checks that a libtensorfs.so exports exactly the functions its public
# header declares: a symbol exported but not declared (an internal leaking out) and a function
# declared but not exported (a promise the library breaks) both fail, and both lists are printed.
#
# usage: scripts/check-abi.sh LIB.so HEADER.h        (`make abi` passes build/libtensorfs.so)
#        scripts/check-abi.sh --declared HEADER.h    (just the declared names, one a line)
# Declarations are read from the header with comments removed: an identifier tfs_* directly
# followed by "(" (function pointers, "(*name)(", are not declarations of exported functions).
set -eu
usage() { echo "usage: $0 LIB.so HEADER.h | --declared HEADER.h" >&2; exit 2; }
[ $# -ge 1 ] || usage
case $1 in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

declared() {
	perl -0777 -ne 's{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g;
		while (/\b(tfs_\w+)\s*\(/g) { print "$1\n" unless $` =~ /\(\s*\*\s*$/ }' "$1" |
		sort -u
}

if [ "$1" = --declared ]; then
	[ $# -eq 2 ] || usage
	declared "$2"
	exit 0
fi
[ $# -eq 2 ] || usage
lib=$1 hdr=$2
[ -f "$lib" ] || { echo "check-abi: $lib: no such file (run make)" >&2; exit 2; }
[ -f "$hdr" ] || { echo "check-abi: $hdr: no such file" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declared "$hdr" >"$tmp/declared"
# Code symbols only (T/W/i); data the header does not declare would be caught as well, since the
# version script exports nothing else.
nm -D --defined-only "$lib" | awk '$3 != "" {sub(/@.*/, "", $3); print $3}' |
	grep -v '^TENSORFS_' | sort -u >"$tmp/exported"
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
n=$(wc -l <"$tmp/exported")
if [ -n "$extra" ] || [ -n "$missing" ]; then
	[ -z "$extra" ] || printf 'check-abi: %s exports symbols %s does not declare:\n%s\n' \
		"$lib" "$hdr" "$(echo "$extra" | sed 's/^/  /')" >&2
	[ -z "$missing" ] || printf 'check-abi: %s declares functions %s does not export:\n%s\n' \
		"$hdr" "$lib" "$(echo "$missing" | sed 's/^/  /')" >&2
	exit 1
fi
echo "check-abi: $lib exports exactly the $n functions $hdr declares"
