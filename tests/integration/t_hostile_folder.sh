#!/bin/bash
# A hostile checkpoint folder: symlinks to ".", to "..", to a sibling and in a cycle between two
# folders (before the fix, 4 links to "." made the open list 4^8 folders: a hang); a FIFO, a
# socket-like special file, a dangling link and a link to /dev/zero among the files; a shard named
# in the index that is a link to /dev/zero. Mount and ls must finish promptly, show each real file,
# never open a FIFO (that would block), and refuse the special shard with a clear message.
. "$(dirname "$0")/lib.sh"

CK=$T/ck
$GEN sharded "$CK" --tensors 20 --shards 2 --seed 9 --size-mb 1 -q || { fail "gen_ckpt"; tfs_done; }
mkdir -p "$CK/sub/deeper" "$CK/a" "$CK/b"
echo '{}' >"$CK/sub/deeper/config.json"
for i in 1 2 3 4 5 6; do ln -s . "$CK/self$i"; ln -s .. "$CK/sub/up$i"; done
ln -s ../b "$CK/a/to_b"
ln -s ../a "$CK/b/to_a"
ln -s sub "$CK/sub_again"
mkfifo "$CK/fifo"
ln -s /nonexistent "$CK/dangling"
ln -s /dev/zero "$CK/zero"

t0=$(date +%s%N)
timeout 20 "$TENSORFS" ls "$CK" >"$T/ls.out" 2>"$T/ls.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "ls of the hostile folder: exit $rc in $ms ms; $(grep -c 'skipped' "$T/ls.err") folders skipped as already listed"
check "ls finishes (exit $rc, ${ms} ms)" test $rc = 0
check "ls within 5 s" test $ms -lt 5000
MNT=$T/mnt
MOUNT_ERR_OK="skipped: a link to a folder listed elsewhere" tfs_mount "$CK" "$MNT" || tfs_done
check "mount shows the real nested file once" test -f "$MNT/sub/deeper/config.json"
n=$(find "$MNT" -name config.json -path '*deeper*' | wc -l)
check "the nested file is not repeated through the links (found $n)" test "$n" = 1
check "no FIFO, dangling link or device shown" test ! -e "$MNT/fifo" -a ! -e "$MNT/dangling" -a ! -e "$MNT/zero"
check "tensors still read" eval "cat '$MNT/$(manifest_get "$CK.manifest.json" "m['tensors'][1]['path']")' >/dev/null"
tfs_unmount "$MNT"

# A shard in the index that is a link to a character device.
$PY - "$CK/model.safetensors.index.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
k = next(iter(d["weight_map"]))
d["weight_map"][k] = "zero"
json.dump(d, open(sys.argv[1], "w"))
PYEOF
timeout 20 "$TENSORFS" ls "$CK" >/dev/null 2>"$T/ls2.err"
rc=$?
echo "shard linked to /dev/zero: exit $rc: $(cat "$T/ls2.err")"
check "shard linked to /dev/zero refused clearly" eval "[ $rc = 1 ] && grep -q 'zero: not a regular file' '$T/ls2.err'"
tfs_done
