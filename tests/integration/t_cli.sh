#!/bin/bash
# CLI: --help of each command (exit 0, usage on stdout); unknown command/option -> stderr, exit 2;
# bad option values -> non-zero before anything is mounted; size suffixes accepted.
. "$(dirname "$0")/lib.sh"

CK=$T/ck
MNT=$T/mnt
mkdir -p "$MNT"
$GEN single "$CK.safetensors" --tensors 8 --seed 5 -q || { fail "gen_ckpt"; tfs_done; }
CK=$CK.safetensors

for args in "--help" "ls --help" "mount --help"; do
	# shellcheck disable=SC2086
	"$TENSORFS" $args >"$T/out" 2>"$T/err"
	rc=$?
	check "tensorfs $args exits 0 (rc=$rc)" test $rc = 0
	check "tensorfs $args prints usage on stdout" grep -qi usage "$T/out"
done
check "mount --help lists --strategy" grep -q -- --strategy "$T/out"
check "mount --help lists --cache-size" grep -q -- --cache-size "$T/out"

# expect_usage_error RC_WANTED ARGS...: exit code, message on stderr, nothing on stdout, nothing mounted
expect_error() {
	local want=$1
	shift
	timeout 20 "$TENSORFS" "$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ "$want" = any ]; then
		check "tensorfs $* exits non-zero (rc=$rc)" test $rc != 0 -a $rc != 124
	else
		check "tensorfs $* exits $want (rc=$rc)" test $rc = "$want"
	fi
	check "tensorfs $* says why on stderr" test -s "$T/err"
	check "tensorfs $*: not mounted afterwards" eval "! is_mounted '$MNT'"
	[ -z "$(daemon_pids "$MNT")" ] || fail "tensorfs $*: left a process running"
}
expect_error 2 frobnicate
expect_error 2 --frobnicate
expect_error 2 ls --frobnicate "$CK"
expect_error 2 mount --frobnicate "$CK" "$MNT"
expect_error any
expect_error any ls
expect_error any mount "$CK"
expect_error any mount "$CK" "$MNT" extra-arg
expect_error any mount --strategy nope "$CK" "$MNT"
check "bad --strategy names the option" grep -q -- "strategy" "$T/err"
expect_error any mount --threads abc "$CK" "$MNT"
expect_error any mount --block-size 3000 "$CK" "$MNT"
expect_error any mount --block-size 1K "$CK" "$MNT"
expect_error any mount --cache-size -5 "$CK" "$MNT"
expect_error any mount --readahead 12Q "$CK" "$MNT"
expect_error any mount --threads "$CK" "$MNT"

# accepted option spellings (SZ with and without suffixes), each mounts and reads
path=$(manifest_get "$CK.manifest.json" "m['tensors'][0]['path']")
for opts in "--block-size 4096 --cache-size 1048576 --readahead 65536 --threads 1" \
	"--block-size 64K --cache-size 8M --readahead 1M --threads 3" \
	"--cache-size 1G --block-size 2M" "-o allow_other" "-o default_permissions,allow_other" \
	"--strategy lazy" "--strategy eager" "--strategy streaming" "--strategy auto"; do
	# shellcheck disable=SC2086
	if tfs_mount "$CK" "$MNT" $opts; then
		check "read with $opts" test -s "$MNT/$path" -a "$(wc -c <"$MNT/$path")" -gt 0
		tfs_unmount "$MNT"
	fi
done
tfs_done
