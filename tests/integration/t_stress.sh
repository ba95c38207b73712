#!/bin/bash
# Load: 32 concurrent readers (16 threads of one process + 16 processes) for STRESS_SECONDS (20)
# on a cache of a few blocks (--cache-size 8M --block-size 1M, checkpoint 48 MiB), every read
# compared byte for byte with the shard, while `ls -R` and `getfattr -R -d` (which hashes whole
# tensors through the engine) storm the tree. Zero mismatches, zero errors, nobody stuck (every
# reader must finish within 30 s of the deadline), daemon RSS flat (growth between the 3rd second
# and the end under 16 MiB). Prints the figures.
. "$(dirname "$0")/lib.sh"

SECS=${STRESS_SECONDS:-20}
CK=$T/ck
MNT=$T/mnt
$GEN sharded "$CK" --tensors 120 --shards 4 --seed 21 --size-mb 48 -q || { fail "gen_ckpt"; tfs_done; }
MF=$CK.manifest.json
tfs_mount "$CK" "$MNT" --cache-size 8M --block-size 1M --log "$T/log" || tfs_done
PID=$(daemon_pids "$MNT")
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status" 2>/dev/null || echo 0; }

READER="$PY $IT_DIR/stress_reader.py $MF $CK $MNT $SECS"
t0=$(date +%s.%N)
timeout -k 5 $((SECS + 30)) $READER 16 1 >"$T/r.threads" 2>&1 &
pids=($!)
for i in $(seq 2 17); do
	timeout -k 5 $((SECS + 30)) $READER 1 "$i" >"$T/r.$i" 2>&1 &
	pids+=($!)
done
end=$(($(date +%s) + SECS))
(while [ "$(date +%s)" -lt $end ]; do ls -R "$MNT" >/dev/null || echo "ls -R failed" >>"$T/storm.err"; done) &
storm1=$!
(while [ "$(date +%s)" -lt $end ]; do getfattr -R -d "$MNT" >/dev/null 2>>"$T/getfattr.err" || echo "getfattr failed" >>"$T/storm.err"; done) &
storm2=$!
samples=()
for s in $(seq 1 "$SECS"); do
	sleep 1
	samples+=("$(rss)")
done
stuck=0
for p in "${pids[@]}"; do
	wait "$p"
	rc=$?
	[ $rc = 124 ] || [ $rc = 137 ] && stuck=$((stuck + 1))
done
wait $storm1 $storm2
t1=$(date +%s.%N)
sleep 1
rss_end=$(rss)

read -r reads bytes bad errs < <(cat "$T"/r.* | $PY -c '
import json, sys
r = b = m = e = 0
for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    r += d["reads"]; b += d["bytes"]; m += d["mismatches"]; e += d["errors"]
print(r, b, m, e)')
nres=$(cat "$T"/r.* | grep -c '^{')
rss3=${samples[2]:-0}
echo "stress: 32 readers, ${SECS}s: $reads reads, $((bytes / 1048576)) MiB checked byte for byte, $bad mismatches, $errs errors, $stuck stuck; $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s wall"
echo "stress: daemon VmRSS kB per second: ${samples[*]} (end $rss_end)"
echo "stress: ls -R / getfattr storms: $(grep -c . "$T/storm.err" 2>/dev/null || echo 0) failures"
grep -h '"mismatches": [1-9]' "$T"/r.* | head -3
check "every reader reported" test "$nres" = 17
check "no mismatches" test "$bad" = 0
check "no read errors" test "$errs" = 0
check "no reader stuck (deadlock)" test "$stuck" = 0
check "reads happened" test "$reads" -gt 1000
check "storms ok" test ! -s "$T/storm.err"
if grep -q __asan_init "$TENSORFS"; then
	# ASan keeps freed memory in quarantine (256 MiB by default): RSS grows by design there.
	echo "stress: sanitized binary: RSS growth not checked ($((rss_end - rss3)) kB)"
else
	check "daemon RSS flat (3rd s $rss3 kB, end $rss_end kB)" test $((rss_end - rss3)) -lt 16384
fi
check "daemon alive" pid_alive "$PID"
check "engine logged no errors" eval "! grep -q failed '$T/log'"
tfs_unmount "$MNT"
tfs_done
