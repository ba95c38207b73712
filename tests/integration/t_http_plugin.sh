#!/bin/bash
# The HTTP source is a plugin (libtensorfs-http.so) loaded at the first URL: neither `tensorfs` nor
# libtensorfs.so links libcurl; a local load or mount never maps libcurl (seen through LD_DEBUG=files
# and the daemon's /proc/PID/maps); a URL does, and without a usable plugin it fails with one line
# saying why - never a crash. Needs no server: the URLs point at a closed port.
. "$(dirname "$0")/lib.sh"

BDIR=$(dirname "$TENSORFS")
PLUGIN=$BDIR/libtensorfs-http.so
CK=$T/ck
URL=http://127.0.0.1:9/model.safetensors   # the discard port: nothing listens there
export TENSORFS_HTTP_TIMEOUT=1 TENSORFS_HTTP_RETRIES=0
$GEN sharded "$CK" --tensors 12 --shards 2 --seed 3 -q || { fail "gen_ckpt"; tfs_done; }

linked_curl() { ldd "$1" | grep -qE 'libcurl|libcrypto'; }
check "tensorfs does not link libcurl" eval '! linked_curl "$TENSORFS"'
if [ -f "$BDIR/libtensorfs.so" ]; then
	check "libtensorfs.so does not link libcurl" eval '! linked_curl "$BDIR/libtensorfs.so"'
fi
check "the HTTP plugin is built" test -f "$PLUGIN"
check "the HTTP plugin links libcurl" eval 'ldd "$PLUGIN" | grep -q libcurl'

# opened LOG: the objects the dynamic linker initialised.
opened() { grep -E 'calling init: ' "$1" | sed 's/.*calling init: //'; }

LD_DEBUG=files "$TENSORFS" load "$CK" --device cpu >"$T/out" 2>"$T/ld"
rc=$?
check "local load succeeds (rc=$rc)" test $rc = 0
check "LD_DEBUG saw the start-up (the checks below can fail)" eval 'opened "$T/ld" | grep -q libc'
check "a local load does not load the HTTP plugin" eval '! opened "$T/ld" | grep -q libtensorfs-http'
check "a local load does not load libcurl" eval '! opened "$T/ld" | grep -q libcurl'

MNT=$T/mnt
mkdir -p "$MNT"
if tfs_mount "$CK" "$MNT"; then
	cat "$MNT"/* >/dev/null 2>&1
	pid=$(daemon_pids "$MNT" | head -1)
	check "found the daemon" test -n "$pid"
	check "the daemon of a local mount has not mapped libcurl" \
		eval '! grep -qE "libcurl|libtensorfs-http" /proc/$pid/maps'
	tfs_unmount "$MNT"
fi

# A URL loads the plugin and libcurl with it; the closed port is the answer, not the plugin.
LD_DEBUG=files timeout 60 "$TENSORFS" load "$URL" >"$T/out" 2>"$T/ld"
rc=$?
check "a URL loads the HTTP plugin" eval 'opened "$T/ld" | grep -q libtensorfs-http'
check "a URL loads libcurl" eval 'opened "$T/ld" | grep -q libcurl'
check "closed port: exits 1 (rc=$rc)" test $rc = 1
check "closed port: says it could not connect" grep -q "^tensorfs load: $URL: .*connect" "$T/ld"

# expect_msg DESCRIPTION REGEX [ENV...]: load URL under ENV fails with REGEX as its only line.
expect_msg() {
	local what=$1 re=$2 bin=${BIN:-$TENSORFS}
	shift 2
	env "$@" timeout 60 "$bin" load "$URL" >"$T/out" 2>"$T/err"
	local rc=$?
	check "$what: exits 1 (rc=$rc)" test $rc = 1
	check "$what: one clear line" grep -qE "$re" "$T/err"
	check "$what: only that line" test "$(wc -l <"$T/err")" = 1
	check "$what: nothing on stdout" test ! -s "$T/out"
}

expect_msg "missing plugin" \
	"^tensorfs load: $URL: HTTP plugin $T/none.so \(TENSORFS_HTTP_PLUGIN\) not found$" \
	TENSORFS_HTTP_PLUGIN="$T/none.so"
# A binary without the plugin beside it (an install that left it out).
mkdir -p "$T/bin"
cp "$TENSORFS" "$T/bin/tensorfs"
BIN=$T/bin/tensorfs expect_msg "no plugin beside the binary" \
	"^tensorfs load: $URL: HTTP support not available: no libtensorfs-http.so in $T/bin or ../lib nor on the library path .+" A=1
refuses_bad_plugins "tensorfs load: $URL: " HTTP TENSORFS_HTTP_PLUGIN tfs_http_source_v1
if command -v cc >/dev/null; then
	cat >"$T/other.c" <<'C'
struct table { int abi; unsigned long a, b, c; const void *scheme; };
const struct table *tfs_http_source_v1(void) { static struct table t = { 999, 1, 2, 3, 0 }; return &t; }
C
	if cc -shared -fPIC -o "$T/other.so" "$T/other.c"; then
		expect_msg "plugin of another ABI" \
			"^tensorfs load: $URL: the HTTP plugin $T/other.so is from another build of tensorfs \(ABI mismatch; want source ABI 1\)$" \
			TENSORFS_HTTP_PLUGIN="$T/other.so"
	fi
fi
tfs_done
