#!/bin/bash
# syscalls.sh - the daemon's system calls (strace -c) while every file of a mounted checkpoint is read.
#
# Usage: bench/syscalls.sh [--cold] TENSORFS [TENSORFS...]   (as root, strace installed)
#   Generates a 4-shard, 512 MB checkpoint under $TMPDIR (kept between runs), then for each
#   binary given: mounts it, attaches `strace -c -f` to the daemon, reads every file once with cat,
#   unmounts, and prints the stat calls (newfstatat: fstat and stat), preads and the total.
#   --cold drops the kernel's caches after mounting. Compare a build before and after a change
#   in one run; the strace tables stay in the work folder it names.
set -u
[ "${1:-}" = -h ] || [ "${1:-}" = --help ] && { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
COLD=0
[ "${1:-}" = --cold ] && { COLD=1; shift; }
[ $# -ge 1 ] || { echo "syscalls.sh: name at least one tensorfs binary (--help)" >&2; exit 2; }
command -v strace >/dev/null || { echo "syscalls.sh: strace not found" >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
D=${TMPDIR:-/tmp}/tfs-syscalls
CK=$D/ck
mkdir -p "$D"
if [ ! -f "$CK/model.safetensors.index.json" ]; then
	python3 "$REPO/tests/gen_ckpt.py" sharded "$CK" --tensors 200 --shards 4 --seed 3 \
		--size-mb 512 -q || { echo "syscalls.sh: cannot generate $CK" >&2; exit 1; }
fi
echo "work folder: $D"
i=0
for BIN in "$@"; do
	i=$((i + 1))
	MNT=$D/mnt.$i LOG=$D/log.$i OUT=$D/strace.$i
	mkdir -p "$MNT"
	"$BIN" mount --log "$LOG" "$CK" "$MNT" || { echo "syscalls.sh: $BIN: mount failed" >&2; exit 1; }
	PID=$(pgrep -n -f -- "mount --log $LOG")
	[ "$COLD" = 1 ] && echo 3 >/proc/sys/vm/drop_caches
	strace -c -f -p "$PID" -o "$OUT" 2>/dev/null &
	SP=$!
	sleep 1 # strace attached to every thread
	N=$(find "$MNT" -type f ! -path "*/.tensorfs/*" | wc -l)
	find "$MNT" -type f ! -path "*/.tensorfs/*" -print0 | xargs -0 cat >/dev/null
	sleep 0.5
	kill -INT "$SP"
	wait "$SP"
	fusermount3 -u "$MNT"
	echo "$BIN: $N files read; daemon syscalls (calls):"
	# strace -c columns: % time, seconds, usecs/call, calls, [errors], syscall
	awk '$NF ~ /^(newfstatat|fstat|stat|statx|pread64|total)$/ { print "  " $NF ": " $4 }' "$OUT"
done
