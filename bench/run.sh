#!/usr/bin/env bash
# bench/run.sh - `make bench`: tensorfs read speed, I/O amplification, mount time and memory, each as
# a ratio against a baseline measured in the same run on the same shard files. A benchmark, not a
# test: it exits 0 when it could measure (MISS rows included), 1 when a figure could not be measured
# or a byte read through the mount was wrong (an ERROR row).
#
# Env (all optional):
#   TENSORFS        the binary (make bench passes an absolute path; default REPO/build/tensorfs)
#   BENCH_QUICK=1   smoke run (make bench-quick, a few minutes): 256 MiB checkpoint of 128 tensors,
#                   one round per profile, mount time on 1,000 tensors only
#   BENCH_GB        checkpoint size in GiB (default 1; 0.25 with BENCH_QUICK)
#   BENCH_TENSORS   tensors in it (default 512; 128);  BENCH_SHARDS  shards (default 4; 2)
#   BENCH_DIR       where checkpoints and the peers' venv live and are reused (/var/tmp/tensorfs-bench)
#   BENCH_CACHE     --cache-size of every mount and load (default 256M)
#   BENCH_REPS      warm rounds (default 2; 1 quick; best kept); BENCH_COLD_REPS cold and throttled
#                   rounds (default 2, 1 quick: with one, rows within ±5% of a target flipped)
#   BENCH_PROFILES  step 7's profiles (default "warm cold throttled")
#   BENCH_READERS   step 7's readers, in the order they run (default: all of them, listed below)
#   BENCH_PEERS=0   leave out the peers (safetensors, runai-model-streamer, fastsafetensors)
#   BENCH_STRATEGY  --strategy of step 7's mounts (default auto)
#   BENCH_MOUNT_OPTS  extra `tensorfs mount` options for every mount (e.g. "--readahead 64M")
#   BENCH_AB_OPTS   A/B variants: '|'-separated option sets, e.g. "--direct-io off|--splice off";
#                   every tensorfs mount reader of step 7 also runs once per set (after
#                   BENCH_MOUNT_OPTS), interleaved with the others, and each figure is reported
#                   per variant too (keys and labels end in @ab1, @ab2, ...)
#   BENCH_LOAD_OPTS extra `tensorfs load` options (tfs_load)
#   BENCH_THROTTLE_IOPS / BENCH_THROTTLE_BPS / BENCH_THROTTLE_RA_KB  the throttled profile
#                   (default 300 reads/s, 400000000 B/s, read_ahead_kb 128)
#   BENCH_BDI_RA_KB   if set, written to the mount's /sys/class/bdi/0:N/read_ahead_kb after mounting
#   BENCH_STRATEGIES  strategies of the older steps 1-3 (default "auto lazy streaming")
#   BENCH_STEPS     which steps to run (default "7 4 5 6 8"; 1-3 are opt-in, see below)
#   BENCH_OUT       output folder (default bench/out): results.json, results.txt, chart.png, bench.log
#   BENCH_GIT       the revision the results name (default: git describe of the tree run.sh is in)
#   BENCH_CHART     where else the chart goes (default bench/chart.png, the README's, in a full run;
#                   nowhere in a quick one)
#
# Step 7, issue 9's table: every reader reads the whole checkpoint, in each profile:
#   warm       the shard files in the page cache before every run (`cat` of them)
#   cold       caches dropped before every run, local disk (mount time included for the mounts)
#   throttled  cold, and the bench's shell (so every reader and daemon it starts) in a block-I/O
#              cgroup of 300 reads/s and 400 MB/s, the disk's read_ahead_kb at 128 (throttle.sh): a
#              network disk; set up and removed by the bench as root, skipped with a reason if not
# Readers, baselines on the shard files, peers and tensorfs interleaved (this order):
#   cat         cat of the shard files
#   tfs_first   every tensor file in index order through a fresh mount; warm: then again on the
#               same mount (tfs_reread)
#   bindfs      cat of the shard files through a fresh `bindfs -o ro,multithreaded` mount
#   tfs_shards  cat of the shard files through a fresh tensorfs mount
#   pread       pread of every tensor's range on the shards, in the shuffled ("execution") order;
#               pread_cmd: the same run timed as a whole command, start-up included
#   tfs_shuf    the tensor files through a fresh mount in that order (throttled: after the rounds,
#               a pair of fresh mounts sharing one profile folder, tfs_shuf_learn then
#               tfs_shuf_again: the second follows the order the first recorded)
#   mmap        safetensors-style: the shards mmapped, tensors copied out in that order
#   tfs_mmap    the same on the shard files as the mount shows them
#   bulk        the limit: 8 threads x 16 MiB pread of the shards (bulkread.c); bulk_cmd: the same
#               run timed as a whole command, start-up included
# Cold and throttled figures compare runs started the same way: a mount reader's time includes the
# mount (the daemon's start and the catalog), so its baselines are bulk_cmd and pread_cmd, and
# tensorfs load's is bulk_cmd; each row's note gives the ratio by the baseline's own timer too.
#   tfs_load    `tensorfs load --device cpu` (wall time of the command, start-up included)
#   tfs_8read / tfs_8mmap   tfs_shuf / tfs_mmap with 8 threads taking the next tensor
#   st_load_file st_safe_open runai fastsafetensors   the peers (peers.py, in a venv pinned by
#               requirements.txt; time after imports)
# Readers that put every byte into memory of their own (tfs_load and the peers) run right after an
# untimed write and free of as much memory (freshmem.c): on this VM memory freed for ~2 s goes back
# to the host (free page reporting), and its first write then costs 1-2.5 s per GiB instead of
# ~0.1 s. The peers' imports write and free hundreds of MiB before their timer starts; tensorfs
# load would otherwise be the only reader charged for memory the host took back.
# Figures are ratios against baselines of the same run, PASS/MISS against issue 9's targets.
#
# Older steps (each mount fresh):
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
#   6 peak RSS         max VmHWM of the daemons of steps 1-3 and 7 (--cache-size) <= budget + 64 MiB
#   8 remote           issue 12's profile, bench/remote.sh (its --help): `tensorfs load` of every
#                      tensor over HTTP from nginx on 127.0.0.1 vs one `curl` stream of the shards
#                      and vs N parallel curl range requests (N = --threads), same run; targets
#                      >= 0.9 x the faster N-curl figure, >= 1 x one stream (GB/s ratios). Its own
#                      checkpoint: REMOTE_GB (default 1; 0.25 quick), REMOTE_REPS (3; 1 quick),
#                      REMOTE_N, REMOTE_SHARDS, REMOTE_RATE pass through; SKIP without nginx/curl.
#                      OUT/remote.txt and OUT/remote.json hold its own table.
# Steps 1-3 alternate baseline and mount runs within each round (the machine may be busy) and keep
# the best time of each. The table goes to stdout and OUT/results.txt, progress to stderr and
# OUT/bench.log; chart.py draws OUT/chart.png (GB/s per reader and profile). Helpers: preadcat.c
# (the list reader, built here with cc), bulkread.c, throttle.sh, peers.py, mklists.py (read lists
# from .tensorfs/index.json), gen_bench_ckpt.py (the checkpoint: llama-like BF16 shards, which
# every peer reads; tests/gen_ckpt.py makes step 5's many-tensor ones).
set -uo pipefail
export LC_ALL=C
case ${1:-} in
-h|--help) sed -n '2,/^set -uo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) echo "usage: bench/run.sh [--help]   (settings come from BENCH_* variables; see --help)" >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
PY=/usr/bin/python3
TENSORFS=${TENSORFS:-$REPO/build/tensorfs}
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=""
if [ -n "$QUICK" ]; then
	GB=${BENCH_GB:-0.25}
	NT=${BENCH_TENSORS:-128}
	NS=${BENCH_SHARDS:-2}
	REPS=${BENCH_REPS:-1}
	COLD_REPS=${BENCH_COLD_REPS:-1}
	MOUNT_SIZES="1000"
else
	GB=${BENCH_GB:-1}
	NT=${BENCH_TENSORS:-512}
	NS=${BENCH_SHARDS:-4}
	REPS=${BENCH_REPS:-2}
	COLD_REPS=${BENCH_COLD_REPS:-2}
	MOUNT_SIZES="1000 10000"
fi
STRATS_WARM=${BENCH_STRATEGIES:-"auto lazy streaming"}
STRATS_OTHER=${BENCH_STRATEGIES:-"auto lazy streaming"}
STRAT=${BENCH_STRATEGY:-auto}
PROFILES=${BENCH_PROFILES:-"warm cold throttled"}
MATRIX_READERS=${BENCH_READERS:-"cat tfs_first bindfs tfs_shards pread tfs_shuf mmap tfs_mmap bulk tfs_load tfs_8read tfs_8mmap st_load_file st_safe_open runai fastsafetensors"}
PEERS=${BENCH_PEERS:-1}
AB_OPTS=${BENCH_AB_OPTS:-}
LOAD_OPTS=${BENCH_LOAD_OPTS:-}
VPY=""        # the peers' python (step 7)
MATRIX=""     # step 7's best time per profile and reader (file)
BENCH_DIR=${BENCH_DIR:-/var/tmp/tensorfs-bench}
CACHE=${BENCH_CACHE:-256M}
MOUNT_OPTS=${BENCH_MOUNT_OPTS:-}
BDI_RA=${BENCH_BDI_RA_KB:-}
OUT=${BENCH_OUT:-$HERE/out}
CHART=${BENCH_CHART-$([ -n "$QUICK" ] || echo "$HERE/chart.png")}
STEPS=" ${BENCH_STEPS:-7 4 5 6 8} "
want() { [[ "$STEPS" == *" $1 "* ]]; }
MB=$(awk -v g="$GB" 'BEGIN { printf "%d", g * 1024 }')

mkdir -p "$OUT" "$BENCH_DIR" || exit 1
WORK=$(mktemp -d "$BENCH_DIR/run.XXXXXX") || exit 1
PROFILE_DIR=$WORK/profiles     # the mounts' learned warm-up orders (do_mount)
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
secs_since() { awk -v n="$(( $(now_ns) - $1 ))" 'BEGIN { printf "%.6f", n / 1e9 }'; }
# shellcheck source=bench/throttle.sh
. "$HERE/throttle.sh"

# ---- cleanup: never leave a mount behind -----------------------------------------------------
cleanup() {
	throttle_off
	mountpoint -q "$WORK/bindfs" 2>/dev/null && fusermount3 -u "$WORK/bindfs" 2>/dev/null
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || { sleep 1; fusermount3 -u "$MNT" 2>/dev/null; } ||
			fusermount3 -uz "$MNT" 2>/dev/null
	fi
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		sleep 1
		kill "$DPID" 2>/dev/null
	fi
	# never rm -r through a mount that is still there
	if ! mountpoint -q "$MNT" 2>/dev/null && ! mountpoint -q "$WORK/bindfs" 2>/dev/null; then
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
# gen CKPT_DIR NTENSORS NSHARDS MB [llama]: generates once (reused while the stamp matches); with
# "llama" always bench/gen_bench_ckpt.py (plain BF16 tensors every peer loader reads), else
# tests/gen_ckpt.py (every dtype and shape, edge cases included) with the former as fallback.
gen() {
	local dir=$1 nt=$2 ns=$3 mb=$4 kind=${5:-} stamp="$1.stamp" want
	want="tensors=$nt shards=$ns mb=$mb${kind:+ $kind}"
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
	if [ -z "$kind" ] && [ -f "$REPO/tests/gen_ckpt.py" ] &&
	   "$PY" "$REPO/tests/gen_ckpt.py" sharded "$dir.tmp" --tensors "$nt" --shards "$ns" \
		--total-mb "$mb" --no-sha -q --manifest "$dir.manifest.json" >>"$LOG" 2>&1; then
		:
	else
		[ -n "$kind" ] || log "bench: tests/gen_ckpt.py unavailable or failed; using bench/gen_bench_ckpt.py"
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
# Every mount starts with an empty --profile-dir, so no reader follows the order another reader
# left (a learned warm-up order is measured on purpose only: KEEP_PROFILE=1 keeps the folder).
do_mount() {
	local ckpt=$1 strat=$2 t0 rc
	shift 2
	[ -n "${KEEP_PROFILE:-}" ] || { rm -rf "$PROFILE_DIR"; mkdir -p "$PROFILE_DIR"; }
	t0=$(now_ns)
	# shellcheck disable=SC2086
	"$TENSORFS" mount --cache-size "$CACHE" --strategy "$strat" --profile-dir "$PROFILE_DIR" \
		$MOUNT_OPTS "$@" "$ckpt" "$MNT" >>"$LOG" 2>&1
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
	R_SECS=$(secs_since "$t0")
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
	printf '  %-52s %10s %-6s %-22s %s\n' "$2" "$3" "$4" "$7" "$8" >&2
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
declare -A BEST_T=() BEST_N=() MBYTES=()
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
CKPT=$BENCH_DIR/llama-${MB}m-${NT}t-${NS}s
gen "$CKPT" "$NT" "$NS" "$MB" llama

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

# ---- 7. readers x profiles (issue 9's table) -----------------------------------------------------
# Every reader reads the whole checkpoint; each run is timed alone, baselines and tensorfs readers
# alternate within a round, the best round is kept. Profiles: warm (shards in the page cache before
# every run), cold (caches dropped before every run; mount time included), throttled (cold, and the
# bench's shell, so every reader and daemon, in a block-I/O cgroup; see throttle.sh).
if want 7; then
BULK=$WORK/bulkread
cc -O2 -Wall -pthread -o "$BULK" "$HERE/bulkread.c" || die "cannot build bench/bulkread.c"
FRESHMEM=$WORK/freshmem
cc -O2 -Wall -pthread -o "$FRESHMEM" "$HERE/freshmem.c" || die "cannot build bench/freshmem.c"
# prime_memory: write and free as much memory as the checkpoint (see "Readers that put every byte").
prime_memory() { "$FRESHMEM" 2 $(((SHARD_BYTES >> 20) + 1)) >/dev/null 2>>"$LOG" || log "bench: freshmem failed"; }
MATRIX=$WORK/matrix.tsv    # profile reader secs bytes (best run of each)
: >"$MATRIX"
declare -A SKIP_READER=()  # reader -> why it cannot run here (logged once)

# Variants of the mount: "" (BENCH_MOUNT_OPTS) and one per '|'-separated BENCH_AB_OPTS entry.
VARIANTS=("")
declare -A VOPTS=([v]="")   # keyed by "v" + the variant's suffix (bash keys cannot be empty)
if [ -n "$AB_OPTS" ]; then
	IFS='|' read -r -a _ab <<<"$AB_OPTS"
	for i in "${!_ab[@]}"; do
		VARIANTS+=("@ab$((i + 1))")
		VOPTS["v@ab$((i + 1))"]=${_ab[$i]}
		log "bench: variant @ab$((i + 1)): mount options $MOUNT_OPTS ${_ab[$i]}"
	done
fi

# Peers' environment (bench/requirements.txt), built once under BENCH_DIR/venv.
VPY=""
if [ "$PEERS" = 1 ]; then
	log "bench: peers' virtual environment (first time: a few minutes) ..."
	VPY=$(TENSORFS_VENV_ROOT=$BENCH_DIR/venv "$REPO/scripts/setup-venv.sh" "$HERE/requirements.txt" \
		"torch, numpy, safetensors, runai_model_streamer, fastsafetensors" 2>>"$LOG") ||
		{ VPY=""; log "bench: cannot build the peers' environment (see $LOG): peers skipped"; }
fi
BINDFS_OK=""
command -v bindfs >/dev/null && BINDFS_OK=1 || log "bench: bindfs not installed (make bench-deps): bindfs skipped"
BMNT=$WORK/bindfs
mkdir -p "$BMNT"

# parse_out OUTPUT: sets R_SECS and R_BYTES from a "bytes=N secs=S" line.
parse_out() {
	R_SECS=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$1" | tail -1)
	R_BYTES=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$1" | tail -1)
	[ -n "$R_SECS" ]
}

# tfs_run VARIANT PROFILE CMD...: fresh mount with the variant's options, CMD (sets R_SECS), unmount.
# Cold profiles count the mount time in. Sets R_SECS2 from TFS_SECOND (a second command on the same
# mount, for the warm re-read).
tfs_run() {
	local v=$1 prof=$2 t mt
	shift 2
	# shellcheck disable=SC2086
	do_mount "$CKPT" "$STRAT" ${VOPTS[v$v]} || return 1
	mt=$MOUNT_MS
	if ! "$@"; then do_umount; return 1; fi
	t=$R_SECS
	R_SECS2=""
	if [ -n "${TFS_SECOND:-}" ]; then
		"$@" && R_SECS2=$R_SECS
	fi
	do_umount
	note_hwm 7 "$prof/${READER}"
	[ "$prof" = warm ] || t=$(calc "$t + $mt / 1000")
	R_SECS=$t
}

bindfs_cat() {
	local rc=0
	bindfs -o ro,multithreaded "$CKPT" "$BMNT" 2>>"$LOG" || { log "bench: bindfs mount failed"; return 1; }
	time_cat "$LISTS/shards.bind" || rc=1
	fusermount3 -u "$BMNT" 2>>"$LOG" || { sleep 1; fusermount3 -u "$BMNT" 2>>"$LOG"; }
	R_BYTES=$SHARD_BYTES
	return $rc
}
sed "s#\t$CKPT/#\t$BMNT/#" "$LISTS/shards.lst" >"$LISTS/shards.bind"

# read_one PROFILE READER: one timed run of READER; sets R_SECS R_BYTES (R_SECS2: warm re-read).
read_one() {
	local prof=$1 rd=$2 v="" base out rc
	R_SECS="" R_BYTES="" R_SECS2="" R_WALL=""
	if [[ "$rd" == *@* ]]; then v="@${rd#*@}"; fi
	base=${rd%%@*}
	READER=$rd
	case $base in
	cat)     time_cat "$LISTS/shards.lst" && R_BYTES=$SHARD_BYTES ;;
	pread)   # R_WALL: the whole command, like bulk's
		local t0=$(now_ns)
		preadcat -k "$LISTS/rand.dir" &&
			R_WALL=$(secs_since "$t0") ;;
	mmap)    preadcat -m "$LISTS/rand.dir" ;;
	bulk)    # R_WALL: the whole command, start-up included, for `tensorfs load` (timed the same way)
		local files t0
		mapfile -t files < <(cut -f3 "$LISTS/shards.lst")
		t0=$(now_ns)
		out=$("$BULK" -t 8 -b $((16 << 20)) "${files[@]}" 2>>"$LOG") && parse_out "$out" &&
			R_WALL=$(secs_since "$t0") ;;
	bindfs)  bindfs_cat ;;
	tfs_first)
		if [ "$prof" = warm ]; then
			TFS_SECOND=1 tfs_run "$v" "$prof" preadcat "$LISTS/seq.mnt"
		else
			tfs_run "$v" "$prof" preadcat "$LISTS/seq.mnt"
		fi ;;
	tfs_shuf)   tfs_run "$v" "$prof" preadcat "$LISTS/rand.mnt" ;;
	tfs_shards) tfs_run "$v" "$prof" time_cat "$LISTS/shards.mnt" && R_BYTES=$SHARD_BYTES ;;
	tfs_mmap)   tfs_run "$v" "$prof" preadcat -m "$LISTS/rand.mshard" ;;
	tfs_8read)  tfs_run "$v" "$prof" preadcat -t 8 "$LISTS/rand.mnt" ;;
	tfs_8mmap)  tfs_run "$v" "$prof" preadcat -m -t 8 "$LISTS/rand.mshard" ;;
	tfs_load)
		local t0=$(now_ns)
		# shellcheck disable=SC2086
		out=$("$TENSORFS" load --device cpu --cache-size "$CACHE" $LOAD_OPTS --json "$CKPT" 2>>"$LOG") || return 1
		R_SECS=$(secs_since "$t0")
		R_BYTES=$(sed -n 's/.*"bytes": \([0-9]*\).*/\1/p' <<<"$out" | head -1) ;;
	st_load_file|st_safe_open|runai|fastsafetensors)
		[ -n "$VPY" ] || return 2
		out=$("$VPY" "$HERE/peers.py" "$base" "$WORK/index.json" "$CKPT" "$LISTS/rand.dir" 2>>"$LOG")
		rc=$?
		if [ $rc = 3 ]; then
			SKIP_READER[$rd]=$(tail -1 "$LOG")
			return 2
		fi
		[ $rc = 0 ] && parse_out "$out" ;;
	*) die "unknown reader $rd" ;;
	esac
}

# The readers, baselines and tensorfs interleaved; tensorfs mount readers once per variant.
READERS=()
for r in $MATRIX_READERS; do
	case $r in
	tfs_first|tfs_shuf|tfs_shards|tfs_mmap|tfs_8read|tfs_8mmap)
		for v in "${VARIANTS[@]}"; do READERS+=("$r$v"); done ;;
	st_load_file|st_safe_open|runai|fastsafetensors)
		[ "$PEERS" = 1 ] && READERS+=("$r") ;;
	bindfs) [ -n "$BINDFS_OK" ] && READERS+=("$r") ;;
	*) READERS+=("$r") ;;
	esac
done

# Never a wrong byte: the tensor files, and the shard files mmapped through the mount, checksum
# like the shards' own ranges (once, warm, before the timed runs).
READER=checksum
if preadcat -k -c "$LISTS/rand.dir"; then
	SUM_DIR=$R_SUM
	SUMS=""
	tfs_run "" warm preadcat -c "$LISTS/rand.mnt" && SUMS="$SUMS $R_SUM"
	tfs_run "" warm preadcat -m -c "$LISTS/rand.mshard" && SUMS="$SUMS $R_SUM"
	if [ "$SUMS" = " $SUM_DIR $SUM_DIR" ]; then
		row "bytes_match" "7 bytes through the mount = the shards'" "1" "" "$SUM_DIR" "$SUMS" "equal" PASS \
			"checksums of every tensor, shuffled: tensor files read, shard files mmapped"
	else
		log "bench: WRONG BYTES through the mount: checksums$SUMS vs the shards' $SUM_DIR"
		row "bytes_match" "7 bytes through the mount = the shards'" "0" "" "$SUM_DIR" "$SUMS" "equal" ERROR \
			"checksums of the tensor files and the mmapped shard files vs the shards' ranges"
	fi
fi

for prof in $PROFILES; do
	case $prof in
	warm) reps=$REPS ;;
	cold) reps=$COLD_REPS ;;
	throttled)
		reps=$COLD_REPS
		if ! throttle_setup "$BENCH_DIR"; then
			THROTTLE_WHY=$(tail -1 "$LOG")
			continue
		fi ;;
	*) die "unknown profile $prof (warm cold throttled)" ;;
	esac
	log "[7] profile $prof: ${#READERS[@]} readers, $reps round(s)"
	[ "$prof" = throttled ] && { throttle_on || { log "bench: cannot join $THR_CG: throttled skipped"; THROTTLE_WHY="cannot join the cgroup"; throttle_off; continue; }; }
	for i in $(seq "$reps"); do
		log "  round $i/$reps"
		for rd in "${READERS[@]}"; do
			[ -n "${SKIP_READER[$rd]:-}" ] && continue
			if [ "$prof" = warm ]; then warm_up; else drop_caches "$LISTS/shards.lst"; fi
			case $rd in tfs_load|st_load_file|st_safe_open|runai|fastsafetensors) prime_memory ;; esac
			p0=$(pgpgin)
			read_one "$prof" "$rd"
			rc=$?
			if [ $rc = 2 ]; then
				[ -n "${SKIP_READER[$rd]:-}" ] || SKIP_READER[$rd]="peers' environment unavailable"
				log "    $rd: skipped (${SKIP_READER[$rd]})"
				continue
			fi
			if [ $rc != 0 ] || [ -z "$R_SECS" ]; then
				log "    $rd: error (see $LOG)"
				continue
			fi
			# a warm baseline that paged in a quarter of the shards ran after someone dropped the
			# caches (integration tests do); tensorfs runs are not judged so (the daemon's O_DIRECT
			# block reads go to the disk on purpose), nor the peers (their imports page in torch)
			d=""
			case $rd in
			cat|pread|mmap|bulk|bindfs)
				[ "$prof" = warm ] && [ $(( ($(pgpgin) - p0) * 1024 )) -gt $(( SHARD_BYTES / 4 )) ] && d=1 ;;
			esac
			DISTURBED=$d keep "7/$prof/$rd" "$R_SECS"
			if { [ "$rd" = bulk ] || [ "$rd" = pread ]; } && [ -n "${R_WALL:-}" ]; then
				DISTURBED=$d keep "7/$prof/${rd}_cmd" "$R_WALL"
				MBYTES[${rd}_cmd]=$R_BYTES
				log "    $(printf '%-22s' "${rd}_cmd") $(printf '%9s' "$R_WALL") s  (the $rd command's wall time, start-up included)"
			fi
			MBYTES[$rd]=$R_BYTES
			run_rec 7 "$prof/$rd" "$( [[ $rd == tfs* ]] && echo mount || echo base )" "$R_SECS" "$R_BYTES" \
				"{\"disturbed\": ${d:-0}}"
			log "    $(printf '%-22s' "$rd") $(printf '%9s' "$R_SECS") s  $(gibps "$R_BYTES" "$R_SECS")${d:+  (disturbed: the page cache was dropped meanwhile)}"
			if [ -n "$R_SECS2" ]; then
				DISTURBED=$d keep "7/$prof/tfs_reread${rd#tfs_first}" "$R_SECS2"
				MBYTES[tfs_reread${rd#tfs_first}]=$R_BYTES
				log "    $(printf '%-22s' "tfs_reread${rd#tfs_first}") $(printf '%9s' "$R_SECS2") s  $(gibps "$R_BYTES" "$R_SECS2")"
			fi
		done
	done
	# learned warm-up order (info): pairs of fresh mounts sharing one profile folder, emptied
	# before the first; the first records the shuffled reader's order, the second follows it
	if [ "$prof" = throttled ] && [[ " $MATRIX_READERS " == *" tfs_shuf "* ]]; then
		for i in $(seq "$reps"); do
			rm -rf "$PROFILE_DIR"; mkdir -p "$PROFILE_DIR"
			drop_caches "$LISTS/shards.lst"
			KEEP_PROFILE=1 read_one "$prof" tfs_shuf && keep "7/$prof/tfs_shuf_learn" "$R_SECS" &&
				MBYTES[tfs_shuf_learn]=$R_BYTES &&
				log "    tfs_shuf_learn         $R_SECS s (fresh mount, no profile: records the order)"
			drop_caches "$LISTS/shards.lst"
			KEEP_PROFILE=1 read_one "$prof" tfs_shuf && keep "7/$prof/tfs_shuf_again" "$R_SECS" &&
				MBYTES[tfs_shuf_again]=$R_BYTES &&
				log "    tfs_shuf_again         $R_SECS s (the next mount: follows the learned order)"
		done
	fi
	[ "$prof" = throttled ] && throttle_off
	for r in "${READERS[@]}" "${READERS[@]/tfs_first/tfs_reread}" bulk_cmd pread_cmd tfs_shuf_learn tfs_shuf_again; do
		best "7/$prof/$r"
		[ -n "$B_T" ] || continue
		grep -q "^$prof	$r	" "$MATRIX" ||
			printf '%s\t%s\t%s\t%s\n' "$prof" "$r" "$B_T" "${MBYTES[$r]:-$TENSOR_BYTES}" >>"$MATRIX"
	done
done

# m PROFILE READER: the best time of a reader in a profile (empty when not measured).
m() { best "7/$1/$2"; echo "${B_T:-}"; }
# le_row KEY LABEL BASE MEAS MAX NOTE: time ratio MEAS/BASE against a maximum. ge_row: BASE/MEAS
# against a minimum. A figure whose profile was not asked for (SKIPPED=omit) gets no row; one whose
# profile could not run (SKIPPED=1) a SKIP row; one missing otherwise an ERROR row.
# missing_status: SKIP where the profile could not run or BENCH_READERS left a reader out, else ERROR.
missing_status() { if [ -n "$SKIPPED" ] || [ -n "${BENCH_READERS:-}" ]; then echo SKIP; else echo ERROR; fi; }
le_row() {
	local r st
	[ "$SKIPPED" = omit ] && return 0
	if [ -z "$3" ] || [ -z "$4" ]; then
		row "$1" "$2" "" "x" "$3" "$4" "<= $5" "$(missing_status)" "$6"
		return
	fi
	r=$(calc "$4 / $3")
	awk -v a="$r" -v b="$5" 'BEGIN { exit !(a + 0 <= b + 0) }' && st=PASS || st=MISS
	row "$1" "$2" "$r" "x" "$3" "$4" "<= $5" "$st" "$6"
}
ge_row() {
	[ "$SKIPPED" = omit ] && return 0
	if [ -z "$3" ] || [ -z "$4" ]; then
		row "$1" "$2" "" "x" "$3" "$4" ">= $5" "$(missing_status)" "$6"
		return
	fi
	ratio_row "$@"
}
info_row() {
	[ -n "$3" ] && [ -n "$4" ] || return 0
	row "$1" "$2" "$(calc "$3 / $4")" "x" "$3" "$4" "(info)" INFO "$5"
}
for v in "${VARIANTS[@]}"; do
	vl=${v:+ [${VOPTS[v$v]}]}
	SKIPPED=""
	[[ " $PROFILES " == *" warm "* ]] || SKIPPED=omit
	ge_row "warm_first_vs_cat$v" "7 warm: first read, fresh mount, vs cat$vl" "$(m warm cat)" "$(m warm "tfs_first$v")" 0.6 "tensor files in index order"
	ge_row "warm_first_vs_bindfs$v" "7 warm: first read vs bindfs -o multithreaded$vl" "$(m warm bindfs)" "$(m warm "tfs_first$v")" 1.5 "bindfs: cat of the shards through a fresh bindfs mount"
	ge_row "warm_reread$v" "7 warm: the same read again, same mount$vl" "$(m warm cat)" "$(m warm "tfs_reread$v")" 0.95 "vs cat"
	ge_row "warm_shards$v" "7 warm: shard files through the mount$vl" "$(m warm cat)" "$(m warm "tfs_shards$v")" 0.7 "cat of the shard files through a fresh mount vs cat of them direct"
	for p in $PROFILES; do
		SKIPPED=""
		[ "$p" = throttled ] && [ -n "${THROTTLE_WHY:-}" ] && SKIPPED=1
		ge_row "par8_read_$p$v" "7 $p: 8 readers vs 1, tensor files$vl" "$(m "$p" "tfs_shuf$v")" "$(m "$p" "tfs_8read$v")" 1.0 "aggregate of 8 threads on different tensors vs one reader, shuffled"
		ge_row "par8_mmap_$p$v" "7 $p: 8 mmap faulters vs 1, shards$vl" "$(m "$p" "tfs_mmap$v")" "$(m "$p" "tfs_8mmap$v")" 1.0 "8 threads faulting the mount's shard mappings vs one"
	done
	SKIPPED=""
	[[ " $PROFILES " == *" cold "* ]] || SKIPPED=omit
	PC=$(m cold pread_cmd)
	ge_row "cold_shuffled$v" "7 cold local: tensor files shuffled vs pread$vl" "$PC" "$(m cold "tfs_shuf$v")" 1.0 "pread of the same ranges in the same order on the shards, whole command (mount included for tensorfs); by pread's own timer ($(m cold pread) s): $( [ -n "$PC" ] && [ -n "$(m cold "tfs_shuf$v")" ] && calc "$(m cold pread) / $(m cold "tfs_shuf$v")")"
	SKIPPED=""
	[ -n "${THROTTLE_WHY:-}" ] && SKIPPED=1
	[[ " $PROFILES " == *" throttled "* ]] || SKIPPED=omit
	TB=$(m throttled bulk) TBC=$(m throttled bulk_cmd)
	# own_ratio MEAS: MEAS / bulk's own timer, for the notes
	own_ratio() { [ -n "$TB" ] && [ -n "$1" ] && calc "$1 / $TB"; }
	[ -z "$v" ] && le_row "thr_load" "7 throttled: tensorfs load --device cpu / bulk" "$(m throttled bulk_cmd)" "$(m throttled tfs_load)" 1.1 "both whole commands, start-up included (wall time); bulk's own timer: $TB s"
	le_row "thr_shuffled$v" "7 throttled: tensor files shuffled / bulk$vl" "$TBC" "$(m throttled "tfs_shuf$v")" 1.25 "both whole commands (mount included); by bulk's own timer ($TB s): $(own_ratio "$(m throttled "tfs_shuf$v")"); baselines: pread in that order $(m throttled pread) s, mmap $(m throttled mmap) s"
	le_row "thr_mmap$v" "7 throttled: shards mmapped via mount / bulk$vl" "$TBC" "$(m throttled "tfs_mmap$v")" 1.3 "shuffled order; both whole commands (mount included); by bulk's own timer: $(own_ratio "$(m throttled "tfs_mmap$v")")"
	ge_row "thr_mmap_vs_direct$v" "7 throttled: shard mmap via mount vs direct$vl" "$(m throttled mmap)" "$(m throttled "tfs_mmap$v")" 10 "direct: safetensors-style mmap of the shards, same order"
	info_row "thr_learned$v" "7 throttled: 2nd mount shuffled vs 1st$vl" "$(m throttled tfs_shuf_learn)" "$(m throttled tfs_shuf_again)" "a learned warm-up order shows as > 1 (one profile folder for the pair)"
done
for p in $PROFILES; do
	for peer in st_load_file st_safe_open runai fastsafetensors; do
		info_row "peer_${peer}_$p" "7 $p: tensorfs load vs $peer" "$(m "$p" "$peer")" "$(m "$p" tfs_load)" "> 1: tensorfs load is faster"
	done
done
for r in "${!SKIP_READER[@]}"; do
	row "skip_$r" "7 $r did not run" "" "" "" "" "(info)" SKIP "${SKIP_READER[$r]}"
done
[ -n "${THROTTLE_WHY:-}" ] && row "skip_throttled" "7 throttled profile did not run" "" "" "" "" "(info)" SKIP "$THROTTLE_WHY"
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
for n in $MOUNT_SIZES; do
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
		MOUNT_PER_1000=$(calc "$M * 1000 / $n")
	else
		row "mount_${n}" "5 mount, $n tensors (ms)" "" "ms" "$L" "" "<= 2 x ls + 50" ERROR ""
	fi
done
# issue 9: "no figure of today gets worse": 7 ms per 1,000 tensors (from the largest checkpoint)
if [ -n "${MOUNT_PER_1000:-}" ]; then
	ge 7 "$MOUNT_PER_1000" && st=PASS || st=MISS
	row "mount_per_1000" "5 mount time per 1,000 tensors (ms)" "$MOUNT_PER_1000" "ms" "7" "$MOUNT_PER_1000" "<= 7" "$st" \
		"from the ${n}-tensor checkpoint; issue 9's figure of today is 7 ms"
fi
# Walking the 10,000-tensor tree (lookup + getattr + readdir through FUSE): no target, for reference.
if [[ " $MOUNT_SIZES " == *" 10000 "* ]] && do_mount "$BENCH_DIR/ckpt-mount-10000t" lazy; then
	t0=$(now_ns); W=$(find "$MNT" | wc -l); W_MS=$(ms_since "$t0")
	do_umount
	row "walk_10000" "5 find over the 10,000-tensor mount (ms)" "$W_MS" ms "" "$W_MS" "(info)" INFO \
		"$W entries, first walk on a fresh mount"
fi
log ""
fi

# ---- 6. peak RSS -----------------------------------------------------------------------------
if want 6 && [ -n "$HWM_STEPS" ]; then
log "[6] peak RSS (VmHWM) of the daemons of steps 1-3 and 7 (--cache-size $CACHE)"
CACHE_B=$(numfmt --from=iec "$CACHE" 2>/dev/null || echo 268435456)
LIM_KB=$(( CACHE_B / 1024 + 65536 ))
for st in 1 2 3 7; do
	want "$st" || continue
	# shellcheck disable=SC2046
	k=$(max $(tr ' ' '\n' <<<"$HWM_STEPS" | awk -F: -v s="$st" '$1 == s { print $3 }'))
	worst=$(tr ' ' '\n' <<<"$HWM_STEPS" | awk -F: -v s="$st" -v k="$k" '$1 == s && $3 == k { print $2; exit }')
	[ "$k" -le "$LIM_KB" ] && res=PASS || res=MISS
	[ "$k" -gt 0 ] || res=ERROR
	row "rss_step$st" "6 peak VmHWM in step $st (MiB)" "$(( k / 1024 ))" MiB "$CACHE_B" "$(( k * 1024 ))" \
		"<= $(( LIM_KB / 1024 ))" "$res" "worst run: $worst; ratio to the budget $(calc "$k * 1024 / $CACHE_B")"
done
log ""
fi

# ---- 8. remote (issue 12) --------------------------------------------------------------------
# bench/remote.sh measures; its remote.json becomes two ratio rows (GB/s of tensorfs over GB/s of
# the baseline: tensor bytes for tensorfs, shard bytes for curl, as remote.sh reports them).
step_remote() {
	local rj=$OUT/remote.json gb reps v need
	gb=${REMOTE_GB:-$([ -n "$QUICK" ] && echo 0.25 || echo 1)}
	reps=${REMOTE_REPS:-$([ -n "$QUICK" ] && echo 1 || echo 3)}
	log "[8] remote: tensorfs load over HTTP vs curl (bench/remote.sh, $gb GiB, best of $reps)"
	for need in nginx curl; do
		command -v "$need" >/dev/null || [ -x "/usr/sbin/$need" ] || {
			row remote_skip "8 remote profile did not run" "" "" "" "" "(info)" SKIP "$need not found (make deps)"
			return 0; }
	done
	rm -f "$rj"
	if ! TENSORFS="$TENSORFS" REMOTE_GB="$gb" REMOTE_REPS="$reps" BENCH_DIR="$BENCH_DIR" BENCH_OUT="$OUT" \
	     "$HERE/remote.sh" >>"$LOG" 2>&1 || [ ! -s "$rj" ]; then
		log "bench: bench/remote.sh failed (see $LOG)"
		row remote_vs_ncurls "8 remote: tensorfs load vs N parallel curls" "" x "" "" ">= 0.9" ERROR "remote.sh failed"
		row remote_vs_stream "8 remote: tensorfs load vs one curl stream" "" x "" "" ">= 1.0" ERROR "remote.sh failed"
		return 0
	fi
	# KEY VALUE lines: the figures the rows need, read once from remote.json
	eval "$("$PY" - "$rj" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
s, g = j["seconds"], j["gbps"]
best = "curl_n_ranges" if g["curl_n_ranges"] >= g["curl_n_2m_ranges"] else "curl_n_2m_ranges"
for k, v in (("RN", j["n"]), ("RT", s["tensorfs_load"]), ("RS", s["curl_one_stream"]),
             ("RC", s[best]), ("GT", g["tensorfs_load"]), ("GS", g["curl_one_stream"]),
             ("GC", g[best]), ("GR", g["curl_n_ranges"]), ("GB2", g["curl_n_2m_ranges"]),
             ("GL", g["tensorfs_load_local"]), ("GSRC", g["http_source_alone"]),
             ("GM", g.get("curl_n_ranges_to_memory", 0)),
             ("RRC", j["ratio_vs_n_curls"]), ("RRS", j["ratio_vs_one_stream"]), ("RB", j["bytes"]),
             ("RTB", j["tensor_bytes"])):
    print("%s=%s" % (k, v))
PYEOF
)" || { row remote_vs_ncurls "8 remote: tensorfs load vs N parallel curls" "" x "" "" ">= 0.9" ERROR "unreadable $rj"; return 0; }
	ge "$RRC" 0.9 && v=PASS || v=MISS
	row remote_vs_ncurls "8 remote: tensorfs load vs $RN parallel curls" "$RRC" x "$RC" "$RT" ">= 0.9" "$v" \
		"GB/s: tensorfs $GT, best of $RN curls $GC (ranges $GR, 2 MiB keep-alive $GB2); nginx 127.0.0.1"
	ge "$RRS" 1.0 && v=PASS || v=MISS
	row remote_vs_stream "8 remote: tensorfs load vs one curl stream" "$RRS" x "$RS" "$RT" ">= 1.0" "$v" \
		"GB/s: tensorfs $GT, one stream $GS; (local load $GL, HTTP source alone $GSRC, $RN curls into /dev/shm $GM)"
	run_rec 8 remote remote "$RT" "$RTB" "{\"remote\": $(tr -d '\n' <"$rj")}"
	log ""
}
want 8 && step_remote

# ---- results -----------------------------------------------------------------------------------
ELAPSED=$(( $(date +%s) - T_START ))
LOAD_END=$(cut -d" " -f1 /proc/loadavg)
GITREV=${BENCH_GIT:-$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "?")}
"$PY" - "$ROWS" "$RUNS" "$OUT/results.json" "$OUT/results.txt" "${MATRIX:-/dev/null}" <<EOF
import json, sys
rows_f, runs_f, out_json, out_txt, matrix_f = sys.argv[1:6]
def num(v):
    try:
        f = float(v)
        return int(f) if f.is_integer() and "." not in v else f
    except ValueError:
        return v if v != "" else None
rows = []
for line in open(rows_f, encoding="utf-8"):
    k, label, val, unit, base, meas, target, status, note = line.rstrip("\n").split("\t")
    # value: the figure as printed (a ratio where unit is "x"); measured and baseline: seconds
    # (or the unit's quantity) of the tensorfs side and of the baseline it is compared with
    rows.append({"step": int(label.split()[0]), "key": k, "label": label, "value": num(val), "unit": unit,
                 "measured": num(meas), "baseline": num(base),
                 "ratio": num(val) if unit.startswith("x") else None,
                 "target": target, "status": status, "note": note})
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
       "ab_opts": "$AB_OPTS", "load_opts": "$LOAD_OPTS", "strategy": "$STRAT", "profiles": "$PROFILES",
       "throttle": "$THR_IOPS reads/s, $THR_BPS B/s, read_ahead_kb $THR_RA_KB", "disk_read_ahead_kb": "$(cat "$THR_RA_FILE" 2>/dev/null || echo "?")",
       "peers_python": "$VPY",
       "bdi_read_ahead_kb_set": "$BDI_RA", "tensorfs": "$TENSORFS", "git": "$GITREV",
       "kernel": "$(uname -r)", "cores": $(nproc), "elapsed_s": $ELAPSED,
       "loadavg_start": $LOAD_START, "loadavg_end": $LOAD_END,
       "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
matrix = {}
for line in open(matrix_f, encoding="utf-8"):
    prof, reader, secs, nbytes = line.rstrip("\n").split("\t")
    secs, nbytes = float(secs), int(nbytes)
    matrix.setdefault(prof, {})[reader] = {"secs": secs, "bytes": nbytes,
                                           "gbps": round(nbytes / secs / 1e9, 3) if secs > 0 else None}
json.dump({"env": env, "results": rows, "matrix": matrix, "runs": runs}, open(out_json, "w"), indent=1)
lines = ["tensorfs bench  %s  (%d tensors, %.2f GiB, %d shards, cache %s, auto -> %s, cold via %s, %ds)"
         % (env["git"], env["tensors"], env["tensor_bytes"] / 2**30, env["shards"], env["cache_size"],
            env["auto_strategy"], env["cold_method"], env["elapsed_s"]),
         "%-52s %10s %-6s %-26s %-6s %s" % ("figure", "value", "unit", "target", "status", "note"),
         "-" * 120]
for r in rows:
    v = r["value"]
    vs = "-" if v is None else ("%.3f" % v if isinstance(v, float) else str(v))
    lines.append("%-52s %10s %-6s %-26s %-6s %s" % (r["label"], vs, r["unit"], r["target"], r["status"], r["note"]))
n_pass = sum(r["status"] == "PASS" for r in rows)
n_miss = sum(r["status"].startswith("MISS") for r in rows)
n_err = sum(r["status"] == "ERROR" for r in rows)
n_skip = sum(r["status"] == "SKIP" for r in rows)
lines.append("-" * 120)
if max(env["loadavg_start"], env["loadavg_end"]) > env["cores"]:
    lines.append("note: load average %.1f at start, %.1f at end on %d cores: other work competed for the CPU,"
                 " figures are noisy" % (env["loadavg_start"], env["loadavg_end"], env["cores"]))
lines.append("%d PASS, %d MISS, %d ERROR, %d SKIP  (ratios: baseline time / tensorfs time for >= targets,"
             " tensorfs time / baseline time for <= targets; results in %s)" % (n_pass, n_miss, n_err, n_skip, out_json))
open(out_txt, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
if [ -s "${MATRIX:-/dev/null}" ]; then
	if "$PY" "$HERE/chart.py" "$OUT/results.json" "$OUT/chart.png" >>"$LOG" 2>&1; then
		log "bench: chart in $OUT/chart.png"
		[ -n "$CHART" ] && cp "$OUT/chart.png" "$CHART" && log "bench: and in $CHART"
	else
		log "bench: no chart (python3-matplotlib missing? make bench-deps; see $LOG)"
	fi
fi
grep -q $'\tERROR\t' "$ROWS" && exit 1
exit 0
