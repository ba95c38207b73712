#!/usr/bin/env bash
# bench/remote.sh - the remote profile: tensorfs reading every tensor of a checkpoint over HTTP vs
# the two ways curl would fetch the same shards, in the same run, from the same nginx on 127.0.0.1:
#   one stream   `curl URL` of each shard, one after another
#   N curls      every shard cut into N contiguous ranges, N `curl -r` running at once
#   N curls 2M   N curl processes at once, each GETting every N-th 2 MiB range (tensorfs' block)
#                over one kept-alive connection (`curl -K` with `next`): tensorfs' request pattern
#   N curls mem  N curls as above, each writing its range into a file in /dev/shm: the same transfer
#                ending in fresh memory, as a load's does (info: curl to /dev/null writes nothing)
#   tensorfs     `tensorfs load --device cpu --threads N URL/` (every tensor, through the engine)
#   (idle)       the same load after 3 s with nothing running
#   (local)      the same load of the shard files themselves, page-cache hot: the pipeline's own
#                bound, not a target; tensorfs/local shows what HTTP costs on top
#   (source)     bench/sourcecat.c: the HTTP byte source alone, N threads of 2 MiB range reads of
#                every shard (no engine, no load pipeline); built here against build/libtensorfs.a
#   (fresh)      bench/freshmem.c, after 3 s idle: N threads writing once to as much fresh memory
#                as the tensors take, allocated as the load allocates them (huge pages)
# Memory: a load lands every byte in fresh memory; a curl writing to /dev/null lands none. A VM
# with free page reporting (this one: page_reporting.page_reporting_order on the kernel command
# line) hands memory freed for ~2 s back to its host, and the first write to each such page then
# faults in the host too: 1-2.5 s per GiB measured here, against ~0.1 s for memory freed a
# moment ago. So the readers that land bytes (N curls mem, tensorfs, local) each run right after
# an untimed write and free of as much memory (freshmem), as on a machine in use or on bare
# metal; the (idle) and (fresh) rows show what this VM charges once the memory was handed back.
# N is tensorfs' concurrency (--threads). Targets: tensorfs >= 0.9 x the faster of the two N-curl
# baselines, and >= 1 x one stream.
# Each is run REPS times alternating, best kept; wall time includes process start for all three.
# Standalone (make bench may call it): exits 0 when it could measure, MISS rows included.
#
# Env (all optional):
#   TENSORFS        the binary (default REPO/build/tensorfs)
#   REMOTE_GB       checkpoint size in GiB (default 1)        REMOTE_SHARDS  shards (default 4)
#   REMOTE_N        concurrency N (default 8)                 REMOTE_REPS    repetitions (default 3)
#   REMOTE_RATE     per-connection cap of the server, nginx limit_rate syntax (default 0: none;
#                   e.g. 100m for an object store's per-connection bandwidth)
#   BENCH_DIR       where the checkpoint lives and is reused (default /var/tmp/tensorfs-bench)
#   BENCH_OUT       output folder (default bench/out): remote.txt, remote.json
set -uo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
TENSORFS=${TENSORFS:-$REPO/build/tensorfs}
GB=${REMOTE_GB:-1}
NS=${REMOTE_SHARDS:-4}
N=${REMOTE_N:-8}
REPS=${REMOTE_REPS:-3}
RATE=${REMOTE_RATE:-0}
BDIR=${BENCH_DIR:-/var/tmp/tensorfs-bench}
OUT=${BENCH_OUT:-$REPO/bench/out}
case ${1:-} in -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;; esac
for need in nginx curl; do
	command -v $need >/dev/null || [ -x /usr/sbin/$need ] ||
		{ echo "remote.sh: $need not found (make deps)" >&2; exit 1; }
done
[ -x "$TENSORFS" ] || { echo "remote.sh: $TENSORFS: not built (make)" >&2; exit 1; }
mkdir -p "$OUT" "$BDIR"

CK=$BDIR/remote-${GB}g-${NS}s
if [ ! -f "$CK/model.safetensors.index.json" ]; then
	echo "remote.sh: writing a ${GB} GiB checkpoint to $CK" >&2
	rm -rf "$CK"
	MB=$(awk -v g="$GB" 'BEGIN { printf "%d", g * 1024 }')
	/usr/bin/python3 "$REPO/tests/gen_ckpt.py" sharded "$CK" --tensors 400 --shards "$NS" \
		--size-mb "$MB" --dtypes BF16,F32 --no-sha --quiet || { echo "remote.sh: gen_ckpt failed" >&2; exit 1; }
fi
STATE=$(mktemp -d /tmp/tfs-remote.XXXXXX)
trap '"$REPO/tests/http/nginx.sh" stop "$STATE/ng"; rm -rf "$STATE"' EXIT
PORT=$(NGINX_RATE=$RATE "$REPO/tests/http/nginx.sh" start "$STATE/ng" "$(dirname "$CK")") ||
	{ echo "remote.sh: nginx would not start" >&2; exit 1; }
URL=http://127.0.0.1:$PORT/capped/$(basename "$CK")
mapfile -t SHARDS < <(cd "$CK" && ls model-*.safetensors)
TOTAL=0
for s in "${SHARDS[@]}"; do TOTAL=$((TOTAL + $(stat -c %s "$CK/$s"))); done
TBYTES=$(/usr/bin/python3 -c "import json,sys; print(sum(t['length'] for t in json.load(open(sys.argv[1]))['tensors']))" \
	"$CK.manifest.json")

now() { date +%s%N; }
one_stream() {
	for s in "${SHARDS[@]}"; do curl -sf -o /dev/null "$URL/$s" || return 1; done
}
# n_curls [DIR]: every shard cut into N contiguous ranges, N `curl -r` at once, each writing to
# /dev/null, or with DIR to a file of its own there.
n_curls() {
	local dir=${1:-} out=/dev/null
	for s in "${SHARDS[@]}"; do
		sz=$(stat -c %s "$CK/$s")
		for ((i = 0; i < N; i++)); do
			a=$((sz * i / N)); b=$((sz * (i + 1) / N - 1))
			[ -n "$dir" ] && out=$dir/$s.$i
			echo "$a-$b $URL/$s $out"
		done
	done | xargs -P "$N" -n 3 sh -c 'curl -sf -o "$2" -r "$0" "$1"' || return 1
}
n_curls_mem() {
	local d rc=0
	d=$(mktemp -d /dev/shm/tfs-remote.XXXXXX) || return 1
	n_curls "$d" || rc=1
	rm -rf "$d"
	return $rc
}
# Config files for n_curls_blocks, written once: worker i takes ranges i, i+N, i+2N... of each shard.
BLK=$((2 << 20))
for ((i = 0; i < N; i++)); do : >"$STATE/cfg.$i"; done
j=0
for s in "${SHARDS[@]}"; do
	sz=$(stat -c %s "$CK/$s")
	for ((a = 0; a < sz; a += BLK)); do
		b=$((a + BLK - 1 < sz - 1 ? a + BLK - 1 : sz - 1))
		f=$STATE/cfg.$((j % N))
		[ -s "$f" ] && echo next >>"$f"  # curl -K: "next" separates requests, none may trail
		printf 'url = "%s"\nrange = "%d-%d"\noutput = "/dev/null"\n' "$URL/$s" "$a" "$b" >>"$f"
		j=$((j + 1))
	done
done
n_curls_blocks() {
	local pids=() i rc=0
	for ((i = 0; i < N; i++)); do curl -sf -K "$STATE/cfg.$i" & pids+=($!); done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	return $rc
}
tfs_load() {
	"$TENSORFS" load --device cpu --threads "$N" "$URL/" >"$STATE/load.out" 2>&1 ||
		{ cat "$STATE/load.out" >&2; return 1; }
}
tfs_local() {
	"$TENSORFS" load --device cpu --threads "$N" "$CK" >"$STATE/load.out" 2>&1 ||
		{ cat "$STATE/load.out" >&2; return 1; }
}
SOURCECAT=$STATE/sourcecat
LIBDIR=$(cd "$(dirname "$TENSORFS")" && pwd)
# Against the static library: the shared one exports only tensorfs.h, and the source is internal.
# The HTTP source itself is the plugin beside the library (loader/io/source.h), named explicitly
# since sourcecat is built elsewhere.
cc -O2 -Wall -I"$REPO/include" -I"$REPO/loader" -I"$REPO/loader/util" -o "$SOURCECAT" \
	"$HERE/sourcecat.c" "$LIBDIR/libtensorfs.a" -pthread \
	$(pkg-config --libs jansson libxxhash) -ldl -lm ||
	{ echo "remote.sh: cannot build bench/sourcecat.c" >&2; exit 1; }
FRESHMEM=$STATE/freshmem
cc -O2 -Wall -o "$FRESHMEM" "$HERE/freshmem.c" -pthread ||
	{ echo "remote.sh: cannot build bench/freshmem.c" >&2; exit 1; }
tfs_fresh() { "$FRESHMEM" "$N" $(((TBYTES + (1 << 20) - 1) >> 20)) >/dev/null; }
prime() { tfs_fresh || { echo "remote.sh: freshmem failed" >&2; exit 1; }; }
tfs_source() {
	TENSORFS_HTTP_PLUGIN=$LIBDIR/libtensorfs-http.so "$SOURCECAT" "$N" "${SHARDS[@]/#/$URL/}" >/dev/null
}
best() { # name cmd: best wall seconds of this round kept in B_<name>
	local t0 t1 s v
	t0=$(now); "$2" || { echo "remote.sh: $1 failed" >&2; return 1; }; t1=$(now)
	s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
	echo "  $1: ${s}s" >&2
	v=B_$1
	if [ -z "${!v:-}" ] || awk -v x="$s" -v y="${!v}" 'BEGIN { exit !(x < y) }'; then printf -v "$v" %s "$s"; fi
}
B_stream=""; B_curls=""; B_blocks=""; B_mem=""; B_tfs=""; B_local=""; B_source=""; B_fresh=""; B_idle=""
echo "remote.sh: $((TOTAL >> 20)) MiB in ${#SHARDS[@]} shards at $URL (limit_rate $RATE), N=$N" >&2
for ((r = 1; r <= REPS; r++)); do
	echo "round $r" >&2
	best stream one_stream || exit 1
	best curls n_curls || exit 1
	best blocks n_curls_blocks || exit 1
	prime; best mem n_curls_mem || exit 1
	prime; best tfs tfs_load || exit 1
	prime; best local tfs_local || exit 1
	best source tfs_source || exit 1
	sleep 3; best idle tfs_load || exit 1
	sleep 3; best fresh tfs_fresh || exit 1
done
gbs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.3f", b / s / 1e9 }'; }
G_stream=$(gbs "$TOTAL" "$B_stream"); G_curls=$(gbs "$TOTAL" "$B_curls"); G_tfs=$(gbs "$TBYTES" "$B_tfs")
G_blocks=$(gbs "$TOTAL" "$B_blocks"); G_mem=$(gbs "$TOTAL" "$B_mem"); G_local=$(gbs "$TBYTES" "$B_local"); G_source=$(gbs "$TOTAL" "$B_source"); G_fresh=$(gbs "$TBYTES" "$B_fresh"); G_idle=$(gbs "$TBYTES" "$B_idle")
G_ncurl=$(awk -v a="$G_curls" -v b="$G_blocks" 'BEGIN { print (a > b ? a : b) }')
R_curls=$(awk -v a="$G_tfs" -v b="$G_ncurl" 'BEGIN { printf "%.2f", a / b }')
R_stream=$(awk -v a="$G_tfs" -v b="$G_stream" 'BEGIN { printf "%.2f", a / b }')
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "PASS" : "MISS") }'; }
{
	echo "remote profile: $((TOTAL >> 20)) MiB, ${#SHARDS[@]} shards, nginx on 127.0.0.1, limit_rate $RATE per connection, N=$N, best of $REPS"
	printf '%-34s %8s %8s\n' "reader" "seconds" "GB/s"
	printf '%-34s %8s %8s\n' "curl, one stream" "$B_stream" "$G_stream"
	printf '%-34s %8s %8s\n' "curl, $N parallel range requests" "$B_curls" "$G_curls"
	printf '%-34s %8s %8s\n' "curl, $N x 2 MiB ranges, keep-alive" "$B_blocks" "$G_blocks"
	printf '%-34s %8s %8s\n' "(curl, $N ranges into /dev/shm)" "$B_mem" "$G_mem"
	printf '%-34s %8s %8s\n' "tensorfs load --threads $N" "$B_tfs" "$G_tfs"
	printf '%-34s %8s %8s\n' "(the same, after 3 s idle)" "$B_idle" "$G_idle"
	printf '%-34s %8s %8s\n' "(tensorfs load of the local files)" "$B_local" "$G_local"
	printf '%-34s %8s %8s\n' "(HTTP byte source alone, N threads)" "$B_source" "$G_source"
	printf '%-34s %8s %8s\n' "(fresh memory, after 3 s idle)" "$B_fresh" "$G_fresh"
	printf 'tensorfs / best %d curls %5s  target >= 0.90  %s\n' "$N" "$R_curls" "$(verdict "$R_curls" 0.9)"
	printf 'tensorfs / one stream    %5s  target >= 1.00  %s\n' "$R_stream" "$(verdict "$R_stream" 1.0)"
} | tee "$OUT/remote.txt"
cat >"$OUT/remote.json" <<JSON
{"bytes": $TOTAL, "tensor_bytes": $TBYTES, "shards": ${#SHARDS[@]}, "n": $N, "limit_rate": "$RATE",
 "seconds": {"curl_one_stream": $B_stream, "curl_n_ranges": $B_curls, "curl_n_2m_ranges": $B_blocks, "curl_n_ranges_to_memory": $B_mem, "tensorfs_load": $B_tfs, "tensorfs_load_idle": $B_idle, "tensorfs_load_local": $B_local, "http_source_alone": $B_source, "fresh_memory_first_write": $B_fresh},
 "gbps": {"curl_one_stream": $G_stream, "curl_n_ranges": $G_curls, "curl_n_2m_ranges": $G_blocks, "curl_n_ranges_to_memory": $G_mem, "tensorfs_load": $G_tfs, "tensorfs_load_idle": $G_idle, "tensorfs_load_local": $G_local, "http_source_alone": $G_source, "fresh_memory_first_write": $G_fresh},
 "ratio_vs_n_curls": $R_curls, "ratio_vs_one_stream": $R_stream}
JSON
exit 0
