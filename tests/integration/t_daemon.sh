#!/bin/bash
# Lifecycle: daemon mode returns with the mount ready (read right away); SIGTERM and SIGINT to the
# daemon unmount cleanly and end it; fusermount3 -u ends it (-f: with status 0); -f stays in the
# foreground until SIGTERM; -d (debug) mounts too; a daemon keeps serving after its parent shell is gone.
. "$(dirname "$0")/lib.sh"

CK=$T/ck
MNT=$T/mnt
$GEN sharded "$CK" --tensors 40 --shards 3 --seed 121 --size-mb 1 -q || { fail "gen"; tfs_done; }
MF=$CK.manifest.json
path=$(manifest_get "$MF" "m['tensors'][1]['path']")
shard=$(manifest_get "$MF" "m['tensors'][1]['shard']")
off=$(manifest_get "$MF" "m['tensors'][1]['offset']")
len=$(manifest_get "$MF" "m['tensors'][1]['length']")
dd if="$CK/$shard" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none >"$T/want"

gone() { ! is_mounted "$MNT" && [ -z "$(daemon_pids "$MNT")" ]; }

# 1. daemon mode: ready on return, then each way of stopping it
for how in SIGTERM SIGINT fusermount; do
	tfs_mount "$CK" "$MNT" || continue
	# no sleep: the mount must be usable the moment the command returns
	check "$how: read right after mount returns" cmp -s "$MNT/$path" "$T/want"
	check "$how: ls right after mount returns" test -d "$MNT/model"
	pids=$(daemon_pids "$MNT")
	check "$how: exactly one daemon process ($pids)" test "$(echo "$pids" | wc -w)" = 1
	case $how in
	SIGTERM) kill -TERM $pids ;;
	SIGINT) kill -INT $pids ;;
	fusermount) fusermount3 -u "$MNT" || fail "fusermount3 -u" ;;
	esac
	check "$how: unmounted and daemon exited within 10 s" wait_until 10 gone
	check "$how: mount point is an empty dir again" test -d "$MNT" -a -z "$(ls -A "$MNT")"
done

# The daemon's stderr holds only what it is meant to say (warm-up progress, mounted, unmounting):
# anything else -- a warning, an error, a sanitizer report -- fails, as in libfuse's own suite.
check_daemon_output() { # check_daemon_output WHAT FILE
	local extra
	extra=$(tr '\r' '\n' <"$2" | grep -v -E '^(tensorfs: warm-up .*|[0-9T:-]+ tensorfs: (mounted|unmounting) .*)?$')
	check "$1: no unexpected daemon output${extra:+: $(head -c 300 <<<"$extra")}" test -z "$extra"
}

# 2. foreground: -f blocks; SIGTERM ends it with status 0 and the mount is gone
mkdir -p "$MNT"
track_mount "$MNT"
"$TENSORFS" mount -f "$CK" "$MNT" 2>"$T/fg.err" &
fg=$!
if wait_until 20 is_mounted "$MNT"; then
	ok
	check "-f: read works" cmp -s "$MNT/$path" "$T/want"
	check "-f: still in the foreground" pid_alive $fg
	kill -TERM $fg
	wait $fg
	rc=$?
	# the spec asks for a clean unmount; exit 0 is what systemd and scripts expect of a requested stop
	check "-f: exit status 0 after SIGTERM (got $rc)" test "$rc" = 0
	check "-f: unmounted" eval "! is_mounted '$MNT'"
	check_daemon_output "-f, SIGTERM" "$T/fg.err"
else
	fail "-f: not mounted within 20 s: $(tail -c 300 "$T/fg.err")"
	kill -KILL $fg 2>/dev/null
fi

# 3. foreground + fusermount3 -u: exits 0 by itself
"$TENSORFS" mount -f "$CK" "$MNT" 2>"$T/fg.err" &
fg=$!
if wait_until 20 is_mounted "$MNT"; then
	fusermount3 -u "$MNT"
	if wait_until 10 eval "! pid_alive $fg"; then
		wait $fg
		rc=$?
		check "-f: exit 0 after fusermount3 -u (rc=$rc)" test $rc = 0
		check_daemon_output "-f, fusermount3 -u" "$T/fg.err"
	else
		fail "-f: still running 10 s after fusermount3 -u"
		kill -KILL $fg
	fi
else
	fail "-f (2): not mounted within 20 s: $(tail -c 300 "$T/fg.err")"
	kill -KILL $fg 2>/dev/null
fi

# 4. -d: debug output on stderr, still serves
"$TENSORFS" mount -f -d "$CK" "$MNT" >"$T/d.out" 2>"$T/d.err" &
fg=$!
if wait_until 20 is_mounted "$MNT"; then
	check "-d: read works" cmp -s "$MNT/$path" "$T/want"
	check "-d: debug output on stderr" test -s "$T/d.err"
	kill -TERM $fg
	wait_until 10 eval "! pid_alive $fg" || { fail "-d: did not exit on SIGTERM"; kill -KILL $fg; }
else
	fail "-d: not mounted within 20 s: $(tail -c 300 "$T/d.err")"
	kill -KILL $fg 2>/dev/null
fi
wait_until 5 eval "! is_mounted '$MNT'" || fail "-d: still mounted"

# 5. the daemon outlives the session that started it, and does not hold the caller's stdout/stderr
# open: `out=$(tensorfs mount ...)` must return (a pipe kept open by the daemon would hang it)
track_mount "$MNT"
out=$(timeout 20 setsid bash -c "'$TENSORFS' mount '$CK' '$MNT' 2>&1; echo rc=\$?" </dev/null)
check "\$(tensorfs mount ...) returns with rc=0 (got: $out)" test "${out##*rc=}" = 0
check "daemon from an exited session still serves" cmp -s "$MNT/$path" "$T/want"
check "one daemon process" test "$(daemon_pids "$MNT" | wc -w)" = 1
tfs_unmount "$MNT"
tfs_done
