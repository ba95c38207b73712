#!/bin/bash
# Interruptible hashing (issue 10, class 7): `getfattr -n user.tensorfs.xxh3` of a large tensor on
# slow storage, killed after a second, must not leave the client in D state nor keep the daemon
# hashing: FUSE's INTERRUPT stops the hash, the client exits and unmount succeeds at once. Before,
# the daemon hashed to the end while the client sat in D state and unmount said EBUSY. Also: a
# tensor name over 8 KiB reads back whole through user.tensorfs.name (it gave E2BIG), and its
# path in .tensorfs/index.json is not empty.
. "$(dirname "$0")/lib.sh"

shim short_preload
CK=$T/ck
$GEN sharded "$CK" --tensors 2 --shards 1 --seed 4 --size-mb 64 -q || { fail "gen_ckpt"; tfs_done; }
MF=$CK.manifest.json
BIG=$(manifest_get "$MF" "max(m['tensors'], key=lambda t: t['length'])['path']")
MNT=$T/mnt
# 64 KiB per transfer, 20 ms each: about 20 s to hash 64 MiB; a second is plenty to be mid-way.
TFS_SHORT_PATH="$CK/" TFS_SHORT_MAX=65536 TFS_SHORT_DELAY_US=20000 LD_PRELOAD=$SHIM \
	tfs_mount "$CK" "$MNT" --log "$T/log" --strategy lazy --splice off --direct-io off || tfs_done
getfattr -n user.tensorfs.xxh3 "$MNT/$BIG" >/dev/null 2>&1 &
client=$!
sleep 1
kill -KILL "$client"
t0=$(date +%s%N)
check "the killed client exits within 5 s (not held in D state)" wait_until 5 eval "! kill -0 $client 2>/dev/null"
wait "$client" 2>/dev/null
check "unmount succeeds within 5 s of the kill (no EBUSY)" wait_until 5 fusermount3 -u "$MNT"
echo "client gone and unmounted $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
check "the log says the hash was interrupted" grep -q "interrupted by the client" "$T/log"
force_unmount "$MNT"

# A name longer than 8 KiB: the whole of it through user.tensorfs.name.
CK2=$T/long
mkdir -p "$CK2"
NAME=$($PY -c 'print("a" * 250 + "." + ".".join("b%02d" % i + "c" * 246 for i in range(40)) + ".w")')
$PY - "$CK2/model.safetensors" "$NAME" <<'PYEOF'
import json, struct, sys
h = json.dumps({sys.argv[2]: {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"abcd")
PYEOF
MNT2=$T/mnt2
if tfs_mount "$CK2" "$MNT2"; then
	# The file's path is over PATH_MAX: walk down one folder at a time.
	got=$($PY - "$MNT2" <<'PYEOF'
import os, sys
os.chdir(sys.argv[1])
while True:
    names = os.listdir(".")
    if "w" in names and os.path.isfile("w"):
        break
    os.chdir([n for n in names if not n.startswith(".")][0])
sys.stdout.write(os.getxattr("w", "user.tensorfs.name").decode())
PYEOF
)
	[ "$got" = "$NAME" ]; same=$?
	check "user.tensorfs.name of a 10 KiB name is whole (got ${#got} bytes)" test "$same" = 0
	# and index.json gives its (over 8 KiB) path, not an empty one
	plen=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["tensors"][0]["path"]))' "$MNT2/.tensorfs/index.json")
	check "index.json path of a 10 KiB name is not empty ($plen bytes)" test "$plen" -gt 8192
	tfs_unmount "$MNT2"
fi
tfs_done
