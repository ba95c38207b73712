#!/bin/bash
# Tiny files (issue 10, class 2): memory must follow the bytes cached, not the block size. A block
# holding the end of a file gets only the pages it needs, so
#   - 500 shards of a few hundred bytes, all read (and warmed) through a mount, lock a few MiB
#     (VmLck; before: one 2 MiB block each, 1 GB),
#   - `tensorfs load` of 10,000 tiny shards stays far under 1 GB of RSS (before: 6.2 GB),
#   - --block-size 1G on a small checkpoint locks about the checkpoint, not 1 GiB per shard.
# Prints "VmLck for 500 tiny shards: N kB" and "RSS for tensorfs load of 10,000 tiny shards: N kB".
. "$(dirname "$0")/lib.sh"

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

CK=$T/tiny500 MNT=$T/mnt500
$GEN sharded "$CK" --tensors 500 --shards 500 --size-mb 0.04 -q || { fail "gen_ckpt"; tfs_done; }
if tfs_mount "$CK" "$MNT" --log "$T/log500"; then
	pid=$(daemon_pids "$MNT")
	read -r n bad < <(read_all_tensors "$CK.manifest.json" "$MNT")
	check "500 tiny shards: every tensor exact ($bad of $n not)" test "$bad" = 0 -a "$n" -gt 0
	lck=$(status_kb "$pid" VmLck)
	echo "VmLck for 500 tiny shards: $lck kB"
	check "500 tiny shards lock at most 16 MiB (VmLck $lck kB; one page each is 2000 kB)" test "${lck:-0}" -le 16384
	tfs_unmount "$MNT"
fi

CK=$T/tiny10k
$GEN sharded "$CK" --tensors 10000 --shards 10000 --size-mb 0.8 -q || { fail "gen_ckpt"; tfs_done; }
out=$( (ulimit -n 1024 && /usr/bin/time -f "maxrss %M" "$TENSORFS" load "$CK" --device cpu --verify) 2>&1)
rc=$?
rss=$(echo "$out" | awk '$1 == "maxrss" { print $2 }')
echo "RSS for tensorfs load of 10,000 tiny shards: $rss kB"
check "load of 10,000 tiny shards succeeds (rc $rc): $(echo "$out" | tail -n 2 | head -n 1)" test "$rc" = 0
check "load of 10,000 tiny shards stays under 256 MiB of RSS ($rss kB)" test "${rss:-999999999}" -le 262144

# Two shards of ~2 MiB with 1 GiB blocks: each block gets its file's pages only.
CK=$T/big MNT=$T/mntbig
$GEN sharded "$CK" --tensors 8 --shards 2 --size-mb 4 -q || { fail "gen_ckpt"; tfs_done; }
if tfs_mount "$CK" "$MNT" --log "$T/logbig" --block-size 1G --cache-size 4G --splice off; then
	pid=$(daemon_pids "$MNT")
	read -r n bad < <(read_all_tensors "$CK.manifest.json" "$MNT")
	check "--block-size 1G: every tensor exact ($bad of $n not)" test "$bad" = 0 -a "$n" -gt 0
	lck=$(status_kb "$pid" VmLck)
	echo "VmLck with --block-size 1G on a 4 MiB checkpoint: $lck kB"
	check "--block-size 1G locks at most 64 MiB for 4 MiB of shards (VmLck $lck kB)" test "${lck:-0}" -le 65536
	tfs_unmount "$MNT"
fi
tfs_done
