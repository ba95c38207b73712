#!/usr/bin/env bash
# bench/run.sh - `make bench`: tensorfs read speed, I/O amplification, mount time and memory, each as
# a ratio against a baseline measured in the same run on the same shard files. A benchmark, not a
# test: it exits 0 when it could measure (MISS rows included), non-zero only when it could not.
#
# Env (all optional):
#   TENSORFS        the binary (make bench passes an absolute path; default REPO/build/tensorfs)
#   BENCH_QUICK=1   smoke run: 512 MiB checkpoint, 2 repetitions, fewer strategy variants
#   BENCH_GB        checkpoint size in GiB (default 4; 0.5 with BENCH_QUICK)
#   BENCH_TENSORS   tensors in it (default 1000);  BENCH_SHARDS  shards (default 10)
#   BENCH_DIR       where checkpoints live and are reused (default /var/tmp/tensorfs-bench)
#   BENCH_CACHE     --cache-size for every mount (default 256M)
#   BENCH_REPS      repetitions of warm steps (default 3; best kept); BENCH_COLD_REPS (default 3)
#   BENCH_STRATEGIES  strategies for the warm sequential step (default "auto lazy streaming eager")
#   BENCH_MOUNT_OPTS  extra `tensorfs mount` options for every mount (e.g. "--readahead 64M")
#   BENCH_BDI_RA_KB   if set, written to the mount's /sys/class/bdi/0:N/read_ahead_kb after mounting
#   BENCH_STEPS     which steps to run (default "1 2 3 4 5 6")
#   BENCH_OUT       output folder (default bench/out): results.json, results.txt, bench.log
#
# Steps (mount figures always on a fresh mount, so the daemon's cache and the FUSE page cache are
# cold unless said otherwise):
#   1 warm sequential  all tensors in index order, 1 MiB preads, shards page-cache hot
#                      vs `cat` of the shards (read twice, second timed)     ratio base/mount >= 0.8
#   2 cold sequential  drop_caches, then mount + read all (mount time included)
#                      vs drop_caches + `cat` of the shards                   ratio base/mount >= 0.95
#   3 random order     all tensors, seeded shuffle, warm, vs preadcat of the same ranges on the
#                      shards (files kept open)                              ratio base/mount >= 0.8
#   4 selective        1 tensor in 10, cold: stats bytes_from_disk vs bytes requested
#                      target from_disk <= 1.1 x requested + one block per tensor read
#   5 mount time       1,000 and 10,000 tensor checkpoints: mount (until the command returns)
#                      vs `tensorfs ls` of the same checkpoint; target mount <= 2 x ls + 50 ms
#   6 peak RSS         max VmHWM of the daemons of steps 1-3 (--cache-size 256M) <= budget + 64 MiB
# Steps 1-3 alternate baseline and mount runs within each round (the machine may be busy) and keep
# the best time of each. The table goes to stdout and OUT/results.txt, progress to stderr and
# OUT/bench.log. Helpers: preadcat.c (the reader, built here with cc), mklists.py (read lists from
# .tensorfs/index.json), gen_bench_ckpt.py (generator used when tests/gen_ckpt.py is unusable).
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
PY=/usr/bin/python3
TENSORFS=${TENSORFS:-$REPO/build/tensorfs}
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=""
if [ -n "$QUICK" ]; then
	GB=${BENCH_GB:-0.5}
	REPS=${BENCH_REPS:-2}
	COLD_REPS=${BENCH_COLD_REPS:-1}
	STRATS_WARM=${BENCH_STRATEGIES:-"auto lazy streaming"}
	STRATS_OTHER="auto lazy"
else
	GB=${BENCH_GB:-4}
	REPS=${BENCH_REPS:-3}
	COLD_REPS=${BENCH_COLD_REPS:-3}
	STRATS_WARM=${BENCH_STRATEGIES:-"auto lazy streaming eager"}
	STRATS_OTHER="auto lazy streaming"
fi
NT=${BENCH_TENSORS:-1000}
NS=${BENCH_SHARDS:-10}
BENCH_DIR=${BENCH_DIR:-/var/tmp/tensorfs-bench}
CACHE=${BENCH_CACHE:-256M}
MOUNT_OPTS=${BENCH_MOUNT_OPTS:-}
BDI_RA=${BENCH_BDI_RA_KB:-}
OUT=${BENCH_OUT:-$HERE/out}
STEPS=" ${BENCH_STEPS:-1 2 3 4 5 6} "
want() { [[ "$STEPS" == *" $1 "* ]]; }
MB=$(awk -v g="$GB" 'BEGIN { printf "%d", g * 1024 }')

mkdir -p "$OUT" "$BENCH_DIR" || exit 1
WORK=$(mktemp -d "$BENCH_DIR/run.XXXXXX") || exit 1
MNT=$WORK/mnt
LOG=$OUT/bench.log
ROWS=$WORK/rows.tsv     # one line per reported figure
RUNS=$WORK/runs.tsv     # one line per timed run (raw numbers for the JSON)
mkdir -p "$MNT"
: >"$LOG"
: >"$ROWS"
: >"$RUNS"
DPID=""
T_START=$(date +%s)
LOAD_START=$(cut -d" " -f1 /proc/loadavg)

log() { printf '%s\n' "$*" | tee -a "$LOG" >&2; }
die() { log "bench: $*"; exit 1; }
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

# ---- cleanup: never leave a mount behind -----------------------------------------------------
cleanup() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || { sleep 1; fusermount3 -u "$MNT" 2>/dev/null; } ||
			fusermount3 -uz "$MNT" 2>/dev/null
	fi
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		sleep 1
		kill "$DPID" 2>/dev/null
	fi
	# never rm -r through a mount that is still there
	if ! mountpoint -q "$MNT" 2>/dev/null; then
		rmdir "$MNT" 2>/dev/null
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'log "bench: interrupted"; exit 130' INT TERM HUP

# ---- preflight ---------------------------------------------------------------------------------
[ -x "$TENSORFS" ] || die "TENSORFS=$TENSORFS is not an executable (run make first)"
[ -x "$PY" ] || die "$PY not found (Debian's python3 with numpy is needed to generate checkpoints)"
command -v fusermount3 >/dev/null || die "fusermount3 not found"
[ -e /dev/fuse ] || die "/dev/fuse missing: no FUSE here"
PREADCAT=$WORK/preadcat
cc -O2 -Wall -o "$PREADCAT" "$HERE/preadcat.c" || die "cannot build bench/preadcat.c"

if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
	COLD_METHOD="drop_caches"
else
	COLD_METHOD="fadvise"   # posix_fadvise(DONTNEED) on the shard files: only those pages
	log "bench: /proc/sys/vm/drop_caches is not writable: cold steps evict the shard files with" \
	    "posix_fadvise(DONTNEED) instead (headers, page tables and other files stay cached)"
fi
# Makes the shard files cold in the page cache. $1: a shards list (for the fadvise fallback).
drop_caches() {
	sync
	if [ "$COLD_METHOD" = drop_caches ]; then
		echo 3 >/proc/sys/vm/drop_caches
	else
		"$PREADCAT" -e "$1" >/dev/null
	fi
}

# ---- checkpoints ---------------------------------------------------------------------------------
# gen CKPT_DIR NTENSORS NSHARDS MB: generates once (reused while the stamp matches).
gen() {
	local dir=$1 nt=$2 ns=$3 mb=$4 stamp="$1.stamp" want
	want="tensors=$nt shards=$ns mb=$mb"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir" ]; then
		log "bench: reusing $dir ($want)"
		return 0
	fi
	# one generator at a time per BENCH_DIR (two benches may start together)
	exec 9>>"$BENCH_DIR/.gen.lock"
	flock 9
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir" ]; then
		flock -u 9
		log "bench: reusing $dir ($want)"
		return 0
	fi
	local avail_mb
	avail_mb=$(df -Pm "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
	[ "${avail_mb:-0}" -gt $(( mb + mb / 10 + 256 )) ] ||
		die "not enough space in $BENCH_DIR for a $mb MiB checkpoint (${avail_mb} MiB free)"
	log "bench: generating $dir ($want) ..."
	rm -rf "$dir" "$dir.tmp" "$stamp"
	local t0; t0=$(now_ns)
	if [ -f "$REPO/tests/gen_ckpt.py" ] &&
	   "$PY" "$REPO/tests/gen_ckpt.py" sharded "$dir.tmp" --tensors "$nt" --shards "$ns" \
		--total-mb "$mb" --no-sha -q --manifest "$dir.manifest.json" >>"$LOG" 2>&1; then
		:
	else
		log "bench: tests/gen_ckpt.py unavailable or failed; using bench/gen_bench_ckpt.py"
		rm -rf "$dir.tmp"
		"$PY" "$HERE/gen_bench_ckpt.py" "$dir.tmp" --tensors "$nt" --shards "$ns" \
			--total-mb "$mb" >>"$LOG" 2>&1 || die "cannot generate $dir (see $LOG)"
	fi
	sync
	mv "$dir.tmp" "$dir" || die "cannot finish $dir"
	echo "$want" >"$stamp"
	flock -u 9
	log "bench: generated in $(ms_since "$t0") ms"
}

# ---- mounting ----------------------------------------------------------------------------------
# do_mount CKPT STRATEGY [extra mount options...]: mounts at $MNT; sets DPID, MOUNT_MS, BDI, BDI_RA_NOW.
do_mount() {
	local ckpt=$1 strat=$2 t0 rc
	shift 2
	t0=$(now_ns)
	# shellcheck disable=SC2086
	"$TENSORFS" mount --cache-size "$CACHE" --strategy "$strat" $MOUNT_OPTS "$@" "$ckpt" "$MNT" \
		>>"$LOG" 2>&1
	rc=$?
	MOUNT_MS=$(ms_since "$t0")
	[ $rc = 0 ] || { log "bench: tensorfs mount $strat $ckpt failed (rc $rc, see $LOG)"; return 1; }
	DPID=$(pgrep -n -f "$(basename "$TENSORFS") mount .*${MNT}\$")
	[ -n "$DPID" ] || log "bench: cannot find the daemon's pid (RSS not measured)"
	BDI=$(mountpoint -d "$MNT" 2>/dev/null)
	if [ -n "$BDI_RA" ] && [ -w "/sys/class/bdi/$BDI/read_ahead_kb" ]; then
		echo "$BDI_RA" >"/sys/class/bdi/$BDI/read_ahead_kb"
	fi
	BDI_RA_NOW=$(cat "/sys/class/bdi/$BDI/read_ahead_kb" 2>/dev/null || echo "?")
	return 0
}

# do_umount: reads the daemon's stats, VmHWM and disk reads, unmounts, waits for it to exit.
# Sets HWM_KB, DISK_READ (bytes the daemon made the block layer read), STATS (file).
do_umount() {
	HWM_KB=0 DISK_READ=0
	STATS=$WORK/stats.json
	cat "$MNT/.tensorfs/stats" >"$STATS" 2>/dev/null || echo '{}' >"$STATS"
	if [ -n "$DPID" ] && [ -r "/proc/$DPID/status" ]; then
		HWM_KB=$(awk '/^VmHWM/ { print $2 }' "/proc/$DPID/status")
		DISK_READ=$(awk '/^read_bytes/ { print $2 }' "/proc/$DPID/io" 2>/dev/null || echo 0)
	fi
	fusermount3 -u "$MNT" 2>>"$LOG" || { sleep 1; fusermount3 -u "$MNT" 2>>"$LOG"; } ||
		fusermount3 -uz "$MNT" 2>>"$LOG"
	if [ -n "$DPID" ]; then
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$DPID" 2>/dev/null && log "bench: daemon $DPID still running 10 s after unmount"
	fi
	DPID=""
	[ -n "$HWM_KB" ] || HWM_KB=0
	[ -n "$DISK_READ" ] || DISK_READ=0
}

# stat_field NAME: a number from the last stats snapshot.
stat_field() {
	"$PY" -c 'import json,sys
d = json.load(open(sys.argv[1])); print(d.get(sys.argv[2], 0))' "$STATS" "$1" 2>/dev/null || echo 0
}

# ---- measuring ---------------------------------------------------------------------------------
# preadcat ARGS...: runs the reader; sets R_SECS R_BYTES R_SUM; returns non-zero on error.
preadcat() {
	local out
	R_SECS="" R_BYTES="" R_SUM=""
	out=$("$PREADCAT" "$@" 2>>"$LOG") || { log "bench: preadcat $* failed (see $LOG)"; return 1; }
	R_SECS=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$out")
	R_BYTES=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$out")
	R_SUM=$(sed -n 's/.*sum=\([0-9a-f]*\).*/\1/p' <<<"$out")
	return 0
}

# time_cat LIST: cat of the shard files of LIST (3rd column); sets R_SECS.
time_cat() {
	local t0 files=()
	R_SECS=""
	mapfile -t files < <(cut -f3- "$1")
	t0=$(now_ns)
	cat "${files[@]}" >/dev/null || return 1
	R_SECS=$(awk -v n="$(( $(now_ns) - t0 ))" 'BEGIN { printf "%.6f", n / 1e9 }')
}

min() { awk 'BEGIN { m = ""; for (i = 1; i < ARGC; i++) if (ARGV[i] != "" && (m == "" || ARGV[i] + 0 < m)) m = ARGV[i] + 0; print m }' "$@"; }
max() { awk 'BEGIN { m = 0; for (i = 1; i < ARGC; i++) if (ARGV[i] + 0 > m) m = ARGV[i] + 0; print m }' "$@"; }
calc() { awk "BEGIN { printf \"%.4f\", $1 }"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

# run_rec STEP VARIANT KIND SECS BYTES EXTRA-JSON: one raw run.
run_rec() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RUNS"; }
# row KEY LABEL VALUE UNIT BASE_S MOUNT_S TARGET STATUS NOTE
row() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"
	printf '  %-44s %10s %-6s %-22s %s\n' "$2" "$3" "$4" "$7" "$8" >&2
}
# ratio_row KEY LABEL BASE MOUNT TARGET_MIN NOTE: throughput ratio base/mount vs a minimum.
ratio_row() {
	local r st
	if [ -z "$3" ] || [ -z "$4" ]; then
		row "$1" "$2" "" "x" "$3" "$4" ">= $5" "ERROR" "$6"
		return
	fi
	r=$(calc "$3 / $4")
	ge "$r" "$5" && st=PASS || st=MISS
	row "$1" "$2" "$r" "x" "$3" "$4" ">= $5" "$st" "$6"
}
gibps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.2f GiB/s", b / s / 1073741824; else print "-" }'; }

HWM_STEPS=""          # "step:variant:kib ..." for step 6
note_hwm() { HWM_STEPS="$HWM_STEPS $1:$2:$HWM_KB"; }
req_kib() {           # average FUSE read size seen by the engine, KiB (bytes_served / reads)
	local r b
	r=$(stat_field reads); b=$(stat_field bytes_served)
	awk -v r="$r" -v b="$b" 'BEGIN { if (r > 0) printf "%.0f", b / r / 1024; else print 0 }'
}

# mount_read STEP VARIANT CKPT STRATEGY LIST [cold]: fresh mount, read LIST, unmount.
# Sets M_SECS (read time; with "cold" the mount time is included) and records the run.
mount_read() {
	local step=$1 var=$2 ckpt=$3 strat=$4 list=$5 cold=${6:-} t
	M_SECS="" M_DISTURBED=""
	if [ -n "$cold" ]; then
		drop_caches "$LISTS/shards.lst"
	else
		warm_up # others may drop caches while we run (integration tests do)
	fi
	do_mount "$ckpt" "$strat" || return 1
	if ! preadcat "$list"; then
		do_umount
		return 1
	fi
	t=$R_SECS
	[ -n "$cold" ] && t=$(calc "$R_SECS + $MOUNT_MS / 1000")
	[ "$R_BYTES" = "$TENSOR_BYTES" ] ||
		log "bench: read $R_BYTES bytes through the mount, expected $TENSOR_BYTES"
	do_umount
	note_hwm "$step" "$var"
	M_SECS=$t
	# a warm run whose daemon had to go to the disk was disturbed (someone dropped the caches)
	[ -z "$cold" ] && [ "$DISK_READ" -gt $(( TENSOR_BYTES / 20 )) ] && M_DISTURBED=1
	run_rec "$step" "$var" mount "$t" "$R_BYTES" \
		"{\"strategy\": \"$strat\", \"disturbed\": ${M_DISTURBED:-0}, \"mount_ms\": $MOUNT_MS, \"vmhwm_kib\": $HWM_KB, \"daemon_disk_read\": $DISK_READ, \"avg_req_kib\": $(req_kib), \"bytes_from_disk\": $(stat_field bytes_from_disk), \"bdi_read_ahead_kb\": \"$BDI_RA_NOW\"}"
	return 0
}

# keep VARIANT SECS [NOTE]: keeps the best (lowest) time of a variant and the note of that run.
# BEST_T[variant], BEST_N[variant]; an empty SECS (a failed run) is ignored. Disturbed runs (the
# page cache was dropped under a warm run) are kept apart and used only when no other run exists.
declare -A BEST_T=() BEST_N=()
keep() {
	[ -n "$2" ] || return 0
	if [ -n "${DISTURBED:-}" ]; then
		local v=$1
		set -- "$v!" "$2" "${3:-} (disturbed run: the page cache was dropped during it)"
	fi
	if [ -z "${BEST_T[$1]:-}" ] || ! ge "$2" "${BEST_T[$1]}"; then
		BEST_T[$1]=$2
		BEST_N[$1]=${3:-}
	fi
}
# mount_keep STEP STRATEGY LIST [cold]: one mount_read, logged and kept as variant "STEP/STRATEGY".
mount_keep() {
	local q=""
	if mount_read "$1" "$2" "$CKPT" "$2" "$3" "${4:-}"; then
		q=$(req_kib)
		DISTURBED=$M_DISTURBED keep "$1/$2" "$M_SECS" "avg FUSE read $q KiB, bdi read_ahead_kb $BDI_RA_NOW"
	fi
	log "    $2: ${M_SECS:-error} s  (VmHWM $((HWM_KB / 1024)) MiB, avg FUSE read ${q:-?} KiB," \
	    "bdi ra ${BDI_RA_NOW:-?} KiB${M_DISTURBED:+, DISTURBED: the daemon read $DISK_READ bytes from disk})"
}
# best VARIANT: the best undisturbed time (else the best disturbed one); sets B_T and B_N.
best() {
	B_T=${BEST_T[$1]:-${BEST_T[$1!]:-}}
	if [ -n "${BEST_T[$1]:-}" ]; then B_N=${BEST_N[$1]:-}; else B_N=${BEST_N[$1!]:-}; fi
}
# pgpgin: KiB paged in from block devices, machine-wide (to spot a cache drop under a warm baseline).
pgpgin() { awk '$1 == "pgpgin" { print $2 }' /proc/vmstat; }
warm_up() { time_cat "$LISTS/shards.lst" >/dev/null; }
# warm_base VARIANT CMD...: runs a timed warm baseline (CMD sets R_SECS) and keeps it; disturbed
# when the machine paged in more than 5% of the shards meanwhile.
warm_base() {
	local v=$1 p0 d=""
	shift
	p0=$(pgpgin)
	"$@" || return 1
	[ $(( ($(pgpgin) - p0) * 1024 )) -gt $(( SHARD_BYTES / 20 )) ] && d=1
	DISTURBED=$d keep "$v" "$R_SECS"
	[ -z "$d" ] || log "    (baseline run disturbed: the page cache was dropped during it)"
}

# ================================================================================================
CKPT=$BENCH_DIR/ckpt-${MB}m-${NT}t-${NS}s
gen "$CKPT" "$NT" "$NS" "$MB"

LISTS=$WORK/lists
mkdir -p "$LISTS"
do_mount "$CKPT" auto || die "cannot mount $CKPT"
cp "$MNT/.tensorfs/index.json" "$WORK/index.json" || die "no .tensorfs/index.json in the mount"
do_umount
BLOCK_SIZE=$(stat_field block_size)
AUTO_STRAT=$(stat_field strategy)
[ "$BLOCK_SIZE" -gt 0 ] 2>/dev/null || BLOCK_SIZE=2097152
eval "$("$PY" "$HERE/mklists.py" "$WORK/index.json" "$CKPT" "$MNT" "$LISTS")" ||
	die "cannot make the read lists"
log "bench: $CKPT: $N_TENSORS tensors, $TENSOR_BYTES tensor bytes in $N_SHARDS shards ($SHARD_BYTES bytes);" \
    "cache $CACHE, block $BLOCK_SIZE, auto -> $AUTO_STRAT, cold via $COLD_METHOD"
log "bench: $(nproc) cores, kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), load average $LOAD_START"
log ""

# Baseline and mount runs alternate within each round, so load from other work on the machine
# hits both sides alike; the best of the rounds is kept for each.

# ---- 1. warm sequential ----------------------------------------------------------------------
if want 1; then
log "[1] warm sequential read of all tensors (shards page-cache hot, fresh mount per run)"
time_cat "$LISTS/shards.lst" >/dev/null
for i in $(seq "$REPS"); do
	log "  round $i/$REPS"
	warm_up
	warm_base 1/base time_cat "$LISTS/shards.lst" &&
		run_rec 1 baseline-cat base "$R_SECS" "$SHARD_BYTES" "{}"
	log "    baseline cat of the shards (2nd read): ${R_SECS:-error} s"
	for s in $STRATS_WARM; do
		mount_keep 1 "$s" "$LISTS/seq.mnt"
	done
	# The same first read with cat's 128 KiB buffer (what `cat tensor` does), then a second read
	# on the same mount ("read twice, time the second", as for the baseline): that one comes from
	# the kernel's page cache of the mounted files (keep_cache) and measures the FUSE per-file
	# costs (lookup, open, release), not the daemon's read path.
	warm_up
	if do_mount "$CKPT" auto; then
		preadcat -b 131072 "$LISTS/seq.mnt" && keep 1/128k "$R_SECS" &&
			run_rec 1 auto-128k mount "$R_SECS" "$R_BYTES" "{}"
		preadcat "$LISTS/seq.mnt" && keep 1/reread "$R_SECS" &&
			run_rec 1 auto-reread mount "$R_SECS" "$R_BYTES" "{}"
		do_umount
		note_hwm 1 auto-128k
	fi
done
best 1/base; BASE1=$B_T
log "  baseline best: $BASE1 s ($(gibps "$SHARD_BYTES" "$BASE1"))"
for s in $STRATS_WARM; do
	best "1/$s"
	ratio_row "seq_warm_$s" "1 warm seq, --strategy $s" "$BASE1" "$B_T" 0.8 \
		"$(gibps "$TENSOR_BYTES" "${B_T:-0}"); $B_N"
done
ratio_row "seq_warm_auto_128k" "1 warm seq, auto, 128 KiB reads" "$BASE1" "${BEST_T[1/128k]:-}" 0.8 \
	"$(gibps "$TENSOR_BYTES" "${BEST_T[1/128k]:-0}"); like cat of each tensor file"
ratio_row "seq_reread_auto" "1 warm seq, auto, 2nd read same mount" "$BASE1" "${BEST_T[1/reread]:-}" 0.8 \
	"$(gibps "$TENSOR_BYTES" "${BEST_T[1/reread]:-0}"); kernel page cache of the mount (keep_cache)"
log ""
fi

# ---- 2. cold sequential ----------------------------------------------------------------------
if want 2; then
log "[2] cold sequential read ($COLD_METHOD before each run; mount time included)"
for i in $(seq "$COLD_REPS"); do
	log "  round $i/$COLD_REPS"
	drop_caches "$LISTS/shards.lst"
	time_cat "$LISTS/shards.lst" && keep 2/base "$R_SECS" &&
		run_rec 2 baseline-cat base "$R_SECS" "$SHARD_BYTES" "{}"
	log "    baseline cold cat of the shards: ${R_SECS:-error} s"
	for s in $STRATS_OTHER; do
		mount_keep 2 "$s" "$LISTS/seq.mnt" cold
	done
done
BASE2=${BEST_T[2/base]:-}
log "  baseline best: $BASE2 s ($(gibps "$SHARD_BYTES" "$BASE2"))"
for s in $STRATS_OTHER; do
	ratio_row "seq_cold_$s" "2 cold seq, --strategy $s" "$BASE2" "${BEST_T[2/$s]:-}" 0.95 \
		"$(gibps "$TENSOR_BYTES" "${BEST_T[2/$s]:-0}"); ${BEST_N[2/$s]:-}"
done
log ""
fi

# ---- 3. random order ---------------------------------------------------------------------------
if want 3; then
log "[3] random-order read of all tensors, warm (fresh mount per run)"
time_cat "$LISTS/shards.lst" >/dev/null
for i in $(seq "$REPS"); do
	log "  round $i/$REPS"
	warm_up
	warm_base 3/base preadcat -k "$LISTS/rand.dir" &&
		run_rec 3 baseline-pread base "$R_SECS" "$R_BYTES" "{}"
	log "    baseline pread of the same ranges on the shards: ${R_SECS:-error} s"
	for s in $STRATS_OTHER; do
		mount_keep 3 "$s" "$LISTS/rand.mnt"
	done
done
best 3/base; BASE3=$B_T
log "  baseline best: $BASE3 s ($(gibps "$TENSOR_BYTES" "$BASE3"))"
for s in $STRATS_OTHER; do
	best "3/$s"
	ratio_row "rand_warm_$s" "3 random order, --strategy $s" "$BASE3" "$B_T" 0.8 \
		"$(gibps "$TENSOR_BYTES" "${B_T:-0}"); $B_N"
done
log ""
fi

# ---- 4. selective read -------------------------------------------------------------------------
if want 4; then
log "[4] selective read: $N_SEL of $N_TENSORS tensors ($SEL_BYTES bytes), cold, fresh mount"
preadcat -k -c "$LISTS/sel.dir"
SEL_SUM=$R_SUM
LIMIT=$(awk -v r="$SEL_BYTES" -v n="$N_SEL" -v b="$BLOCK_SIZE" 'BEGIN { printf "%.0f", 1.1 * r + n * b }')
for s in $STRATS_OTHER; do
	drop_caches "$LISTS/shards.lst"
	if do_mount "$CKPT" "$s" && preadcat -c "$LISTS/sel.mnt"; then
		do_umount
		FD=$(stat_field bytes_from_disk)
		r=$(calc "$FD / $SEL_BYTES")
		lim=$(calc "$LIMIT / $SEL_BYTES")
		[ "$FD" -le "$LIMIT" ] && st=PASS || st=MISS
		if [ "$R_SUM" != "$SEL_SUM" ]; then
			log "bench: WRONG BYTES: the mount's checksum $R_SUM != the shards' $SEL_SUM"
			st="MISS(bytes wrong)"
		fi
		log "    $s: bytes_from_disk $FD for $SEL_BYTES requested (limit $LIMIT); the daemon's" \
		    "block-layer reads (/proc/PID/io read_bytes) $DISK_READ"
		row "sel_$s" "4 selective 1/10, --strategy $s" "$r" "x req" "$SEL_BYTES" "$FD" "<= $lim" "$st" \
			"bytes_from_disk $FD for $SEL_BYTES requested; block-layer reads $DISK_READ"
		run_rec 4 "$s" mount "$R_SECS" "$FD" \
			"{\"requested\": $SEL_BYTES, \"limit\": $LIMIT, \"daemon_disk_read\": $DISK_READ}"
	else
		[ -n "$DPID" ] && do_umount
		row "sel_$s" "4 selective 1/10, --strategy $s" "" "x req" "$SEL_BYTES" "" "<= 1.1x+blocks" ERROR ""
	fi
done
log ""
fi

# ---- 5. mount time ---------------------------------------------------------------------------
if want 5; then
log "[5] mount time (page cache warm), best of 5; baseline: tensorfs ls of the same checkpoint"
for n in 1000 10000; do
	ck=$BENCH_DIR/ckpt-mount-${n}t
	gen "$ck" "$n" 10 16
	"$TENSORFS" ls "$ck" >/dev/null 2>&1
	mts=() lts=() sts=()
	for i in 1 2 3 4 5; do
		if do_mount "$ck" lazy; then
			mts+=("$MOUNT_MS")
			do_umount
		fi
		t0=$(now_ns); "$TENSORFS" ls "$ck" >/dev/null 2>&1; lts+=("$(ms_since "$t0")")
		t0=$(now_ns); stat "$ck"/*.safetensors >/dev/null; sts+=("$(( ($(now_ns) - t0) / 1000 ))")
	done
	M=$(min "${mts[@]:-}") L=$(min "${lts[@]}") S=$(min "${sts[@]}")
	if [ -n "$M" ]; then
		ge "$(( 2 * L + 50 ))" "$M" && st=PASS || st=MISS
		row "mount_${n}" "5 mount, $n tensors (ms)" "$M" "ms" "$L" "$M" "<= 2 x ls + 50 = $(( 2 * L + 50 ))" "$st" \
			"tensorfs ls $L ms (ratio ls/mount $(calc "$L / ($M > 0 ? $M : 1)")); stat of the shards $S us"
		run_rec 5 "$n" mount "$M" 0 "{\"ls_ms\": $L, \"stat_us\": $S}"
	else
		row "mount_${n}" "5 mount, $n tensors (ms)" "" "ms" "$L" "" "<= 2 x ls + 50" ERROR ""
	fi
done
# Walking the 10,000-tensor tree (lookup + getattr + readdir through FUSE): no target, for reference.
if do_mount "$BENCH_DIR/ckpt-mount-10000t" lazy; then
	t0=$(now_ns); W=$(find "$MNT" | wc -l); W_MS=$(ms_since "$t0")
	do_umount
	row "walk_10000" "5 find over the 10,000-tensor mount (ms)" "$W_MS" ms "" "$W_MS" "(info)" INFO \
		"$W entries, first walk on a fresh mount"
fi
log ""
fi

# ---- 6. peak RSS -----------------------------------------------------------------------------
if want 6 && [ -n "$HWM_STEPS" ]; then
log "[6] peak RSS (VmHWM) of the daemons of steps 1-3 (--cache-size $CACHE)"
CACHE_B=$(numfmt --from=iec "$CACHE" 2>/dev/null || echo 268435456)
LIM_KB=$(( CACHE_B / 1024 + 65536 ))
for st in 1 2 3; do
	want "$st" || continue
	# shellcheck disable=SC2046
	k=$(max $(tr ' ' '\n' <<<"$HWM_STEPS" | awk -F: -v s="$st" '$1 == s { print $3 }'))
	worst=$(tr ' ' '\n' <<<"$HWM_STEPS" | awk -F: -v s="$st" -v k="$k" '$1 == s && $3 == k { print $2; exit }')
	[ "$k" -le "$LIM_KB" ] && res=PASS || res=MISS
	[ "$k" -gt 0 ] || res=ERROR
	row "rss_step$st" "6 peak VmHWM in step $st (MiB)" "$(( k / 1024 ))" MiB "$CACHE_B" "$(( k * 1024 ))" \
		"<= $(( LIM_KB / 1024 ))" "$res" "worst: --strategy $worst; ratio to the budget $(calc "$k * 1024 / $CACHE_B")"
done
log ""
fi

# ---- results -----------------------------------------------------------------------------------
ELAPSED=$(( $(date +%s) - T_START ))
LOAD_END=$(cut -d" " -f1 /proc/loadavg)
GITREV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "?")
"$PY" - "$ROWS" "$RUNS" "$OUT/results.json" "$OUT/results.txt" <<EOF
import json, sys
rows_f, runs_f, out_json, out_txt = sys.argv[1:5]
def num(v):
    try:
        f = float(v)
        return int(f) if f.is_integer() and "." not in v else f
    except ValueError:
        return v if v != "" else None
rows = []
for line in open(rows_f, encoding="utf-8"):
    k, label, val, unit, base, meas, target, status, note = line.rstrip("\n").split("\t")
    rows.append({"step": int(label.split()[0]), "key": k, "label": label, "value": num(val), "unit": unit, "baseline": num(base),
                 "measured": num(meas), "target": target, "status": status, "note": note})
runs = []
for line in open(runs_f, encoding="utf-8"):
    step, var, kind, secs, nbytes, extra = line.rstrip("\n").split("\t")
    r = {"step": int(step), "variant": var, "kind": kind, "value": num(secs), "bytes": num(nbytes)}
    try:
        r.update(json.loads(extra))
    except ValueError:
        r["extra"] = extra
    runs.append(r)
env = {"checkpoint": "$CKPT", "tensors": $N_TENSORS, "tensor_bytes": $TENSOR_BYTES,
       "shards": $N_SHARDS, "shard_bytes": $SHARD_BYTES, "cache_size": "$CACHE",
       "block_size": $BLOCK_SIZE, "auto_strategy": "$AUTO_STRAT", "cold_method": "$COLD_METHOD",
       "reps": $REPS, "cold_reps": $COLD_REPS, "quick": bool("$QUICK"), "mount_opts": "$MOUNT_OPTS",
       "bdi_read_ahead_kb_set": "$BDI_RA", "tensorfs": "$TENSORFS", "git": "$GITREV",
       "kernel": "$(uname -r)", "cores": $(nproc), "elapsed_s": $ELAPSED,
       "loadavg_start": $LOAD_START, "loadavg_end": $LOAD_END,
       "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
json.dump({"env": env, "results": rows, "runs": runs}, open(out_json, "w"), indent=1)
lines = ["tensorfs bench  %s  (%d tensors, %.2f GiB, %d shards, cache %s, auto -> %s, cold via %s, %ds)"
         % (env["git"], env["tensors"], env["tensor_bytes"] / 2**30, env["shards"], env["cache_size"],
            env["auto_strategy"], env["cold_method"], env["elapsed_s"]),
         "%-44s %10s %-6s %-26s %-6s %s" % ("figure", "value", "unit", "target", "status", "note"),
         "-" * 120]
for r in rows:
    v = r["value"]
    vs = "-" if v is None else ("%.3f" % v if isinstance(v, float) else str(v))
    lines.append("%-44s %10s %-6s %-26s %-6s %s" % (r["label"], vs, r["unit"], r["target"], r["status"], r["note"]))
n_pass = sum(r["status"] == "PASS" for r in rows)
n_miss = sum(r["status"].startswith("MISS") for r in rows)
n_err = sum(r["status"] == "ERROR" for r in rows)
lines.append("-" * 120)
if max(env["loadavg_start"], env["loadavg_end"]) > env["cores"]:
    lines.append("note: load average %.1f at start, %.1f at end on %d cores: other work competed for the CPU,"
                 " figures are noisy" % (env["loadavg_start"], env["loadavg_end"], env["cores"]))
lines.append("%d PASS, %d MISS, %d ERROR  (ratios: baseline time / mount time unless noted; results in %s)"
             % (n_pass, n_miss, n_err, out_json))
open(out_txt, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
grep -q $'\tERROR\t' "$ROWS" && exit 1
exit 0
