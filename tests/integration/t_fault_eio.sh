#!/bin/bash
# Faults under a live mount, part 2:
#  - a shard that becomes unreadable (every read fails with EIO, as a failing disk does): root
#    ignores chmod 000 and the daemon reads through descriptors opened at mount, so the failure is
#    injected with an LD_PRELOAD shim (fault_preload.c) armed by a flag file. Tensors of that shard
#    give EIO, the log names the file, the others keep working, the daemon stays up; once the
#    "disk" recovers, reads give the exact bytes again (an error is not cached);
#  - a checkpoint on a tiny tmpfs filled to the last byte (and the --log on it): reads are exact,
#    a truncation there still gives EIO, the daemon survives a log it cannot write.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

shim fault_preload

CK=$T/ck
$GEN sharded "$CK" --tensors 60 --shards 3 --seed 11 --size-mb 6 -q || { fail "gen_ckpt"; tfs_done; }
MF=$CK.manifest.json
VICTIM=$(shard_name "$MF" 1)
MNT=$T/mnt
LOG=$T/log
ARM=$T/arm
# --splice off: the shim fails pread(2), but bytes already in the page cache are spliced without a
# pread (and a real failing disk would not be touched for them either).
LD_PRELOAD=$SHIM TFS_FAULT_PATH="/$VICTIM" TFS_FAULT_ARM=$ARM \
	tfs_mount "$CK" "$MNT" --log "$LOG" --cache-size 4M --block-size 64K --strategy lazy --splice off || tfs_done
PID=$(daemon_pids "$MNT")
mapfile -t warm < <(pick "$MF" 1 2 0)
mapfile -t fresh < <(pick "$MF" 1 2 2; pick "$MF" 1 2 -1)
mapfile -t other < <(pick "$MF" 0 2 0; pick "$MF" 2 2 -1)
for p in "${warm[@]}"; do
	check "before: ${p%% *} exact" test "$(outcome "$MNT" $p)" = ok
done
touch "$ARM"
drop_caches
for p in "${fresh[@]}"; do
	o=$(outcome "$MNT" $p)
	check "unreadable shard: ${p%% *} -> EIO (got $o)" test "$o" = eio
done
for p in "${warm[@]}"; do
	o=$(outcome "$MNT" $p)
	# cached by the engine before the fault: exact bytes are fine, EIO is fine, wrong is not
	check "unreadable shard, read before: ${p%% *} -> ok or EIO (got $o)" test "$o" = ok -o "$o" = eio
done
for p in "${other[@]}"; do
	o=$(outcome "$MNT" $p)
	check "other shards: ${p%% *} exact (got $o)" test "$o" = ok
done
check "log names $VICTIM and the I/O error" grep -q "$VICTIM.*Input/output error" "$LOG"
grep -m1 "$VICTIM" "$LOG" | sed 's/^/log: /'
check "daemon alive" pid_alive "$PID"
rm -f "$ARM"
drop_caches
for p in "${fresh[@]}"; do
	o=$(outcome "$MNT" $p)
	check "disk recovered: ${p%% *} exact again (got $o)" test "$o" = ok
done
tfs_unmount "$MNT"

# A checkpoint on a tiny tmpfs, full to the last byte, with the log on it too.
TINY=$T/tiny
mkdir -p "$TINY"
if mount -t tmpfs -o size=8m tfs-tiny "$TINY" 2>/dev/null; then
	track_mount "$TINY"
	$GEN sharded "$TINY/ck" --tensors 40 --shards 2 --seed 12 --size-mb 4 -q --manifest "$T/tiny.manifest.json" ||
		fail "gen_ckpt on tiny tmpfs"
	dd if=/dev/zero of="$TINY/fill" bs=64K status=none 2>/dev/null
	dd if=/dev/zero of="$TINY/fill2" bs=1 status=none 2>/dev/null
	check "tmpfs is full" test "$(df --output=avail "$TINY" | tail -n 1 | tr -d ' ')" = 0
	tfs_mount "$TINY/ck" "$T/mnt2" --log "$TINY/log" --cache-size 2M --block-size 64K --strategy lazy || tfs_done
	PID=$(daemon_pids "$T/mnt2")
	bad=$($PY - "$T/tiny.manifest.json" "$T/mnt2" <<'PYEOF'
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
bad = 0
for t in m["tensors"]:
    with open(sys.argv[2] + "/" + t["path"], "rb") as f:
        bad += hashlib.sha256(f.read()).hexdigest() != t["sha256"]
print(bad)
PYEOF
)
	check "full tmpfs: every tensor exact ($bad bad)" test "$bad" = 0
	V2=$(shard_name "$T/tiny.manifest.json" 1)
	rm -f "$TINY/fill2"
	truncate -s 4096 "$TINY/ck/$V2"
	drop_caches
	mapfile -t fresh2 < <(pick "$T/tiny.manifest.json" 1 2 -1)
	for p in "${fresh2[@]}"; do
		# these were read above: with the kernel cache dropped, the daemon must refuse them
		o=$(outcome "$T/mnt2" $p)
		if [ -n "${DROP_WARNED:-}" ]; then
			check "full tmpfs, truncated shard: ${p%% *} -> EIO or page-cached bytes (got $o)" test "$o" = eio -o "$o" = ok
		else
			check "full tmpfs, truncated shard: ${p%% *} -> EIO (got $o)" test "$o" = eio
		fi
	done
	check "full tmpfs: daemon alive with an unwritable log" pid_alive "$PID"
	tfs_unmount "$T/mnt2"
	umount "$TINY"
else
	echo "SKIP tiny tmpfs part: cannot mount tmpfs here (not root?)"
fi
tfs_done
