#!/bin/bash
# Mounts that cannot work are refused up front with an error naming the problem, and nothing is
# left mounted (issue 10, classes 5 and 10):
#   - onto the checkpoint's own folder, a folder inside it, or one above it (the mount would hide
#     the files it serves: before, `mount` returned 0 and every read was EIO), also for a single
#     .safetensors file's folder;
#   - on a dead (ENOTCONN) mount point: say how to clear it instead of stacking a second mount;
#   - --cache-size 0 (it silently meant "the default") and --stats-json to an unwritable path
#     (accepted, then lost at unmount).
. "$(dirname "$0")/lib.sh"

CK=$T/ck
$GEN sharded "$CK" --tensors 6 --shards 2 --seed 3 --size-mb 1 -q || { fail "gen_ckpt"; tfs_done; }
SINGLE=$T/single/model.safetensors
mkdir -p "$T/single"
$GEN single "$SINGLE" --tensors 4 --size-mb 1 -q || { fail "gen_ckpt single"; tfs_done; }

refused() { # refused WHAT PATTERN MNT ARGS...: the mount fails, says PATTERN, mounts nothing
	local what=$1 pat=$2 mnt=$3 err rc
	shift 3
	err=$("$TENSORFS" mount "$@" 2>&1)
	rc=$?
	echo "$what: $err"
	check "$what: refused (rc $rc)" test "$rc" -ne 0
	check "$what: the error says '$pat'" grep -q -- "$pat" <<<"$err"
	if is_mounted "$mnt"; then
		fail "$what: $mnt got mounted anyway"
		track_mount "$mnt"
	fi
}

refused "onto its own folder" "is the checkpoint" "$CK" "$CK" "$CK"
mkdir -p "$CK/sub"
refused "inside its folder" "is inside the checkpoint" "$CK/sub" "$CK" "$CK/sub"
refused "above its folder" "contains the checkpoint" "$T" "$CK" "$T"
refused "a single file, onto its folder" "contains the checkpoint" "$T/single" "$SINGLE" "$T/single"
# A single file's sibling folder is fine: the file stays visible to the daemon.
mkdir -p "$T/single/mnt"
check "a single file: a mount point beside it works" tfs_mount "$SINGLE" "$T/single/mnt"
is_mounted "$T/single/mnt" && tfs_unmount "$T/single/mnt"

MNT=$T/mnt
mkdir -p "$MNT"
refused "--cache-size 0" "cache-size 0" "$MNT" --cache-size 0 "$CK" "$MNT"
refused "--stats-json unwritable" "stats-json $T/no/such/dir/s.json" "$MNT" --stats-json "$T/no/such/dir/s.json" "$CK" "$MNT"

# A dead mount point: a daemon killed with SIGKILL leaves its mount behind (ENOTCONN).
if tfs_mount "$CK" "$MNT"; then
	for p in $(daemon_pids "$MNT"); do kill -KILL "$p"; done
	wait_until 5 eval "! ls '$MNT' >/dev/null 2>&1"
	before=$(grep -c " $MNT " /proc/self/mountinfo)
	refused "a dead mount point" "fusermount3 -u" "/nonexistent" "$CK" "$MNT"
	after=$(grep -c " $MNT " /proc/self/mountinfo)
	check "a dead mount point: no second mount stacked ($before -> $after)" test "$after" = "$before"
	fusermount3 -u "$MNT" 2>/dev/null || force_unmount "$MNT"
	check "after fusermount3 -u, the mount works" tfs_mount "$CK" "$MNT"
	tfs_unmount "$MNT"
fi
tfs_done
