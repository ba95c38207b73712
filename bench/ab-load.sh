#!/bin/bash
# bench/ab-load.sh - `tensorfs load --device cpu` of two binaries, interleaved round by round, with
# the bulk-read limit in the same rounds: the A/B for changes to the load path (loader/place,
# loader/engine), which BENCH_AB_OPTS (mount options) cannot show. A benchmark, not a test.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
	cat <<'EOF'
usage: bench/ab-load.sh OLD_TENSORFS NEW_TENSORFS [CKPT]

Runs `tensorfs load --device cpu CKPT` with OLD and NEW in turn, AB_ROUNDS times per profile,
and an 8-thread 16 MiB bulk pread of the shards (bench/bulkread.c) in each cold round:
  warm       the shards in the page cache (cat first): the pipeline's own cost
  throttled  caches dropped, this shell in bench/throttle.sh's block-I/O cgroup (300 reads/s,
             400 MB/s, read_ahead_kb 128; root only): also counts the reads the cgroup saw
Per run: wall seconds (start-up included), the load's own seconds, and (throttled) read IOs
and their mean size. Last: the median of each, and NEW/OLD and NEW/bulk ratios.

Env: AB_ROUNDS (default 3), AB_PROFILES (default "warm throttled"), AB_LOAD_OPTS (extra
`tensorfs load` options, default "--cache-size 256M"), BENCH_DIR (default /var/tmp/tensorfs-bench;
CKPT defaults to its llama-1024m-512t-4s, which `make bench` generates).
EOF
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
[ $# -ge 2 ] || { usage >&2; exit 2; }
OLD=$1 NEW=$2
BENCH_DIR=${BENCH_DIR:-/var/tmp/tensorfs-bench}
CKPT=${3:-$BENCH_DIR/llama-1024m-512t-4s}
ROUNDS=${AB_ROUNDS:-3}
PROFILES=${AB_PROFILES:-warm throttled}
LOAD_OPTS=${AB_LOAD_OPTS:---cache-size 256M}
for b in "$OLD" "$NEW"; do
	[ -x "$b" ] || { echo "ab-load: $b: not an executable" >&2; exit 2; }
done
SHARDS=$(ls "$CKPT"/*.safetensors 2>/dev/null)
[ -n "$SHARDS" ] || { echo "ab-load: $CKPT: no .safetensors shards (run make bench once)" >&2; exit 2; }

WORK=$(mktemp -d)
log() { echo "$*" >&2; }
. "$HERE/throttle.sh"
trap 'throttle_off 2>/dev/null; rm -rf "$WORK"' EXIT
cc -O2 -Wall -pthread -o "$WORK/bulk" "$HERE/bulkread.c" || { echo "ab-load: cannot build bulkread.c" >&2; exit 1; }

# cgroup read counters: "IOS BYTES" (0 0 outside the throttled profile)
io() {
	[ -n "${THR_CG:-}" ] && [ "$THR_KIND" = v1 ] || { echo 0 0; return; }
	echo "$(awk -v d="$THR_DEV" '$1 == d && $2 == "Read" { print $3 }' "$THR_CG/blkio.throttle.io_serviced")" \
	     "$(awk -v d="$THR_DEV" '$1 == d && $2 == "Read" { print $3 }' "$THR_CG/blkio.throttle.io_service_bytes")"
}

# one PROFILE LABEL CMD...: prepares the caches, runs CMD, appends a row to $WORK/rows
one() {
	local prof=$1 label=$2 t0 t1 r0 b0 r1 b1 inner
	shift 2
	if [ "$prof" = warm ]; then cat $SHARDS >/dev/null; else sync; echo 3 >/proc/sys/vm/drop_caches; fi
	read -r r0 b0 < <(io)
	t0=$(date +%s.%N)
	inner=$("$@" 2>&1 | sed -n 's/.* in \([0-9.]*\) s: .*/\1/p' | head -1)
	t1=$(date +%s.%N)
	read -r r1 b1 < <(io)
	awk -v p="$prof" -v l="$label" -v t0="$t0" -v t1="$t1" -v ld="${inner:--}" \
	    -v r=$((r1 - r0)) -v b=$((b1 - b0)) 'BEGIN {
		printf "%-9s %-5s wall %6.2f s  load %6s s  %5d IOs  %5.0f KiB/IO\n", p, l, t1 - t0, ld, r,
		       r ? b / 1024 / r : 0 }' | tee -a "$WORK/rows"
}

for prof in $PROFILES; do
	if [ "$prof" = throttled ]; then
		throttle_setup "$BENCH_DIR" && throttle_on || { log "ab-load: throttled skipped"; continue; }
	fi
	for i in $(seq 1 "$ROUNDS"); do
		[ "$prof" = throttled ] && one "$prof" bulk "$WORK/bulk" $SHARDS
		# alternate who goes first, so neither always follows the other
		if [ $((i % 2)) = 1 ]; then
			one "$prof" old "$OLD" load --device cpu $LOAD_OPTS "$CKPT"
			one "$prof" new "$NEW" load --device cpu $LOAD_OPTS "$CKPT"
		else
			one "$prof" new "$NEW" load --device cpu $LOAD_OPTS "$CKPT"
			one "$prof" old "$OLD" load --device cpu $LOAD_OPTS "$CKPT"
		fi
	done
	[ "$prof" = throttled ] && throttle_off
done

echo "medians (wall seconds):"
awk '{ k = $1 " " $2; v[k] = v[k] " " $4 }
     END { for (k in v) print k, v[k] }' "$WORK/rows" | while read -r prof label vals; do
	echo "$prof $label $(echo $vals | tr ' ' '\n' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
done | sort >"$WORK/med"
cat "$WORK/med"
for prof in $PROFILES; do
	awk -v p="$prof" '$1 == p { m[$2] = $3 }
	     END { if (m["old"] && m["new"]) printf "%s: new/old %.2f", p, m["new"] / m["old"];
		   if (m["bulk"] && m["new"]) printf "  new/bulk %.2f  old/bulk %.2f", m["new"] / m["bulk"], m["old"] / m["bulk"];
		   if (m["old"]) print "" }' "$WORK/med"
done
