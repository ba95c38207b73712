#!/bin/bash
# Many files (issue 10, class 1): under the usual `ulimit -n 1024`, a folder of 500 shards plus 30
# small text files, and one of 10,000 shards, must mount and serve every tensor exactly: files are
# opened when first read and at most a quarter of the descriptor limit stay open (recycled), so
# the daemon's descriptors stay bounded whatever the folder. Before, each file was opened twice at
# mount and ~510 files was the ceiling ("failed to open /dev/fuse: Too many open files").
# Prints "fds used for N shards under ulimit -n 1024: K".
. "$(dirname "$0")/lib.sh"

for shards in 500 10000; do
	CK=$T/ck$shards MNT=$T/mnt$shards
	$GEN sharded "$CK" --tensors "$shards" --shards "$shards" --size-mb 4 -q || { fail "gen_ckpt"; continue; }
	for i in $(seq 1 30); do echo "notes $i" >"$CK/notes$i.txt"; done
	# The limit applies to the mount command and the daemon it starts; hard = soft = 1024.
	(ulimit -n 1024 && tfs_mount "$CK" "$MNT" --log "$T/log$shards") || { fail "mount of $shards shards under ulimit -n 1024: $(cat "$T/mount.err" 2>/dev/null)"; continue; }
	track_mount "$MNT"
	pid=$(daemon_pids "$MNT")
	read -r n bad < <(read_all_tensors "$CK.manifest.json" "$MNT")
	check "$shards shards: every tensor exact ($bad of $n not)" test "$bad" = 0 -a "$n" -gt 0
	check "$shards shards: a text file reads back" grep -qx "notes 30" "$MNT/notes30.txt"
	fds=$(ls "/proc/$pid/fd" | wc -l)
	echo "fds used for $shards shards under ulimit -n 1024: $fds"
	check "$shards shards: at most 600 descriptors open in the daemon ($fds)" test "$fds" -le 600
	tfs_unmount "$MNT"
done
tfs_done
