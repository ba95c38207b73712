#!/bin/bash
# Unmounting under load: 16 readers (8 processes x 2 threads) hammer the mount, then
#  1. a lazy unmount (fusermount3 -u -z): readers get an error (the path is gone) and stop, never a
#     wrong byte; the daemon exits with status 0 once the last open file is closed;
#  2. SIGTERM to the daemon: the same, and the mount point is left unmounted.
# The daemon runs in the foreground (-f) as a child of this script, so its exit status is known.
. "$(dirname "$0")/lib.sh"

CK=$T/ck
$GEN sharded "$CK" --tensors 80 --shards 3 --seed 31 --size-mb 24 -q || { fail "gen_ckpt"; tfs_done; }
MF=$CK.manifest.json

round() { # round NAME HOW
	local name=$1 how=$2 mnt=$T/mnt.$1 dpid rc p bad=0 noerr=0 t0 waited
	local -a rp
	mkdir -p "$mnt"
	track_mount "$mnt"
	"$TENSORFS" mount -f --cache-size 8M --block-size 1M --log "$T/log.$name" "$CK" "$mnt" 2>"$T/err.$name" &
	dpid=$!
	wait_until 10 is_mounted "$mnt" || { fail "$name: mount did not come up: $(cat "$T/err.$name")"; return; }
	for i in 1 2 3 4 5 6 7 8; do
		timeout -k 5 60 $PY "$IT_DIR/stress_reader.py" "$MF" "$CK" "$mnt" 50 2 "$i" --until-error \
			>"$T/r.$name.$i" 2>&1 &
		rp+=($!)
	done
	sleep 2
	t0=$(date +%s%N)
	case $how in
	lazy) fusermount3 -u -z "$mnt" ;;
	term) kill -TERM "$dpid" ;;
	esac
	for p in "${rp[@]}"; do
		wait "$p"
		rc=$?
		[ $rc = 0 ] || { bad=$((bad + 1)); echo "$name: reader: exit $rc: $(cat "$T/r.$name".*)" | head -3; }
	done
	waited=0
	while pid_alive "$dpid" && [ $waited -lt 200 ]; do sleep 0.05; waited=$((waited + 1)); done
	if pid_alive "$dpid"; then
		fail "$name: daemon still running 10 s after the readers stopped"
		kill -KILL "$dpid"
	fi
	wait "$dpid"
	rc=$?
	echo "$name: readers stopped and daemon exited (status $rc) $(( ($(date +%s%N) - t0) / 1000000 )) ms after the unmount; first reader errors: $(cat "$T/r.$name".* | $PY -c '
import json, sys
errs = set()
reads = 0
for l in sys.stdin:
    try: d = json.loads(l)
    except ValueError: continue
    reads += d["reads"]
    errs.add((d["first_error"] or "").split(": ")[-1])
print(sorted(errs), "after", reads, "verified reads")')"
	check "$name: every reader saw an error and no wrong byte" test $bad = 0
	check "$name: daemon exit status 0 (got $rc)" test "$rc" = 0
	check "$name: mount point unmounted" eval "! is_mounted '$mnt'"
	check "$name: no crash in the log" eval "! grep -qi 'sanitizer\|segv\|abort' '$T/err.$name'"
}
round lazy lazy
round term term
tfs_done
