#!/bin/bash
# Short reads from storage (issue 10, class 3): network and FUSE filesystems answer pread(2) and
# splice(2) with fewer bytes than asked for. An LD_PRELOAD shim (short_preload.c) caps every
# transfer from the checkpoint's files at 1000 bytes; every read path must still give exact bytes:
#   splice   --splice on, bytes hot in the shard's page cache (reply_hot)
#   pinned   the default: replies from pinned cache blocks filled with O_DIRECT
#   buffered --direct-io off: blocks filled through the page cache
#   copied   4 KiB blocks read through the page cache, so a 128 KiB request spans more blocks than
#            one reply holds (reply_copied)
#   load     `tensorfs load --verify` (the loader's pipeline)
# and the sizes the kernel keeps for the files must stay the catalog's (a short reply shrinks them).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

shim short_preload

CK=$T/ck
$GEN sharded "$CK" --tensors 24 --shards 2 --seed 5 --size-mb 6 -q || { fail "gen_ckpt"; tfs_done; }
MF=$CK.manifest.json
DIRECT_OK=0
dd if="$(ls "$CK"/*.safetensors | head -n 1)" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null && DIRECT_OK=1
SLOG=$T/short.log
export TFS_SHORT_PATH="$CK/" TFS_SHORT_MAX=1000 TFS_SHORT_LOG=$SLOG

# every_tensor MNT WHAT: every non-empty tensor exact and of the manifest's size; prints a summary
every_tensor() {
	local mnt=$1 what=$2 n=0 bad=0 p sum o size want
	while read -r p sum want; do
		o=$(outcome "$mnt" "$p" "$sum")
		size=$(stat -c %s "$mnt/$p")
		n=$((n + 1))
		if [ "$o" != ok ] || [ "$size" != "$want" ]; then
			bad=$((bad + 1))
			[ "$bad" -le 3 ] && echo "  $what: $p -> $o, size $size of $want"
		fi
	done < <($PY -c 'import json,sys
for t in json.load(open(sys.argv[1]))["tensors"]:
    if t["length"] > 0: print(t["path"], t["sha256"], t["length"])' "$MF")
	echo "short reads, $what: $((n - bad)) of $n tensors exact"
	check "$what: every tensor exact under 1000-byte reads ($bad of $n not)" test "$bad" = 0 -a "$n" -gt 0
}

for path in splice pinned buffered copied; do
	MNT=$T/mnt-$path
	case $path in
	splice) opts=(--splice on --strategy lazy) ;;
	pinned) opts=(--splice off --strategy lazy) ;;
	buffered) opts=(--splice off --direct-io off --strategy lazy) ;;
	copied) opts=(--splice off --direct-io off --block-size 4K --strategy lazy) ;;
	esac
	rm -f "$SLOG"
	# Bytes hot in the page cache, for the splice path (read with the real read(2), no shim).
	[ "$path" = splice ] && cat "$CK"/*.safetensors >/dev/null
	# Cold shards for the pinned path: block fills read page-cache-resident ranges buffered, so
	# only evicted bytes take the O_DIRECT path this pass checks (written back first: DONTNEED
	# leaves dirty pages).
	[ "$path" = pinned ] && $PY -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.fsync(fd)  # dirty pages (a fresh checkpoint) stay resident
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' \
		"$CK"/*.safetensors
	LD_PRELOAD=$SHIM tfs_mount "$CK" "$MNT" --log "$T/log-$path" "${opts[@]}" || continue
	every_tensor "$MNT" "$path"
	# Once more: the kernel's page cache of the mount and the sizes it kept must be right too.
	[ "$path" = splice ] && every_tensor "$MNT" "$path (again)"
	tfs_unmount "$MNT"
	check "$path: the shim shortened reads" grep -q "[0-9]: reads shortened" "$SLOG"
	# O_DIRECT reads where the filesystem takes them (tmpfs before Linux 6.6 does not).
	if [ "$path" = pinned ] && [ "$DIRECT_OK" = 1 ]; then
		check "$path: the shim shortened O_DIRECT reads" grep -q "O_DIRECT reads shortened" "$SLOG"
	fi
done

rm -f "$SLOG"
out=$(LD_PRELOAD=$SHIM "$TENSORFS" load "$CK" --device cpu --verify --threads 4 2>&1)
rc=$?
echo "$out" | tail -n 3 | sed 's/^/load: /'
check "load --verify under 1000-byte reads exits 0 (rc $rc)" test "$rc" = 0
check "load: the shim shortened reads" grep -q shortened "$SLOG"
tfs_done
