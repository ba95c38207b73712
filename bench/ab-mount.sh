#!/bin/bash
# bench/ab-mount.sh - one mount reader of `make bench` with two tensorfs binaries, interleaved
# round by round: the A/B for changes to the read path under the mount (loader/engine, fs/).
# ab-load.sh is the same for `tensorfs load`. A benchmark, not a test.
#
#   bench/ab-mount.sh OLD_TENSORFS NEW_TENSORFS
#
# Each run: drop caches, mount the bench's checkpoint with --cache-size 256M, run bench/preadcat
# over the bench's read list, read the mount's stats, unmount. Per run: preadcat's own seconds,
# wall seconds (mount included), the disk reads the cgroup saw (throttled only), and the stats'
# bytes_from_disk and bytes_prefetched_unused. Last: the median read seconds and IOs of each.
#
# Env: AB_READER  shuf (tensor files, shuffled: default), mmap (shard files mmapped through the
#                 mount, same order), read8 / mmap8 (the same with 8 threads), seq (index order)
#      AB_PROFILE throttled (default: bench/throttle.sh's cgroup, root only) or cold (local disk)
#      AB_ROUNDS (default 3), AB_MOUNT_OPTS (extra mount options), BENCH_DIR (default
#      /var/tmp/tensorfs-bench, whose llama-1024m-512t-4s `make bench` generates)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac
[ $# = 2 ] || { echo "usage: bench/ab-mount.sh OLD_TENSORFS NEW_TENSORFS (--help)" >&2; exit 2; }
OLD=$1 NEW=$2
BENCH_DIR=${BENCH_DIR:-/var/tmp/tensorfs-bench}
CKPT=$BENCH_DIR/llama-1024m-512t-4s
ROUNDS=${AB_ROUNDS:-3}
PROFILE=${AB_PROFILE:-throttled}
for b in "$OLD" "$NEW"; do
	[ -x "$b" ] || { echo "ab-mount: $b: not an executable" >&2; exit 2; }
done
[ -d "$CKPT" ] || { echo "ab-mount: $CKPT: missing (run make bench once)" >&2; exit 2; }
case ${AB_READER:-shuf} in
shuf)  LIST=rand.mnt PC_OPTS="" ;;
read8) LIST=rand.mnt PC_OPTS="-t 8" ;;
mmap)  LIST=rand.mshard PC_OPTS="-m" ;;
mmap8) LIST=rand.mshard PC_OPTS="-m -t 8" ;;
seq)   LIST=seq.mnt PC_OPTS="" ;;
*) echo "ab-mount: AB_READER=${AB_READER}: shuf, read8, mmap, mmap8 or seq" >&2; exit 2 ;;
esac

WORK=$(mktemp -d)
MNT=$WORK/mnt
mkdir -p "$MNT"
log() { echo "$*" >&2; }
. "$HERE/throttle.sh"
trap 'fusermount3 -u "$MNT" 2>/dev/null; throttle_off 2>/dev/null; rm -rf "$WORK"' EXIT
cc -O2 -Wall -pthread -o "$WORK/preadcat" "$HERE/preadcat.c" ||
	{ echo "ab-mount: cannot build preadcat.c" >&2; exit 1; }
# The read lists, from the mount's own index (as bench/run.sh makes them).
"$NEW" mount --cache-size 256M "$CKPT" "$MNT" || { echo "ab-mount: cannot mount $CKPT" >&2; exit 1; }
cp "$MNT/.tensorfs/index.json" "$WORK/index.json"
fusermount3 -u "$MNT"
mkdir -p "$WORK/lists"
/usr/bin/python3 "$HERE/mklists.py" "$WORK/index.json" "$CKPT" "$MNT" "$WORK/lists" >/dev/null ||
	{ echo "ab-mount: cannot make the read lists" >&2; exit 1; }

ios() {
	[ -n "${THR_CG:-}" ] && [ "$THR_KIND" = v1 ] || { echo 0; return; }
	awk -v d="$THR_DEV" '$1 == d && $2 == "Read" { print $3 }' "$THR_CG/blkio.throttle.io_serviced"
}
stat_of() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$WORK/stats" | head -1; }

# one LABEL BINARY: one run, a row appended to $WORK/rows
one() {
	local t0 t1 i0 i1 secs
	sync
	echo 3 >/proc/sys/vm/drop_caches
	i0=$(ios)
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	"$2" mount --cache-size 256M --profile-dir off ${AB_MOUNT_OPTS:-} "$CKPT" "$MNT" || return 1
	# shellcheck disable=SC2086
	secs=$("$WORK/preadcat" $PC_OPTS "$WORK/lists/$LIST" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
	t1=$(date +%s.%N)
	i1=$(ios)
	tr ',' '\n' <"$MNT/.tensorfs/stats" >"$WORK/stats"
	fusermount3 -u "$MNT"
	sleep 0.5
	awk -v l="$1" -v s="${secs:-0}" -v t0="$t0" -v t1="$t1" -v r=$((i1 - i0)) \
	    -v d="$(stat_of bytes_from_disk)" -v u="$(stat_of bytes_prefetched_unused)" 'BEGIN {
		printf "%-4s read %6.3f s  wall %6.3f s  %5d IOs  from disk %5.0f MiB  unused prefetch %4.0f MiB\n",
		       l, s, t1 - t0, r, d / 1048576, u / 1048576 }' | tee -a "$WORK/rows"
}

if [ "$PROFILE" = throttled ]; then
	throttle_setup "$BENCH_DIR" && throttle_on || { echo "ab-mount: no throttled profile here" >&2; exit 1; }
fi
echo "ab-mount: $PROFILE, reader ${AB_READER:-shuf} ($LIST, preadcat $PC_OPTS), $ROUNDS rounds"
for i in $(seq 1 "$ROUNDS"); do
	# alternate who goes first, so neither always follows the other
	if [ $((i % 2)) = 1 ]; then one old "$OLD" && one new "$NEW"; else one new "$NEW" && one old "$OLD"; fi ||
		{ echo "ab-mount: a run failed" >&2; exit 1; }
done
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "medians:"
for l in old new; do
	echo "$l read $(awk -v l="$l" '$1 == l { print $3 }' "$WORK/rows" | median) s" \
	     " $(awk -v l="$l" '$1 == l { print $8 }' "$WORK/rows" | median) IOs"
done
