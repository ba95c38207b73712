#!/bin/bash
# Smaller ones of issue 10, class 10:
#   - .tensorfs/stats had st_size 0, so tar, rsync and mmap copied nothing: it now has a real size
#     (its JSON padded with spaces) and every way of copying it gives the whole, parseable JSON;
#   - a mount point whose path has a space: mountinfo writes it as \040, which main.c did not
#     decode, so the kernel readahead tuning never found its mount ("not in /proc/self/mountinfo").
. "$(dirname "$0")/lib.sh"

CK=$T/ck
$GEN sharded "$CK" --tensors 6 --shards 2 --seed 2 --size-mb 1 -q || { fail "gen_ckpt"; tfs_done; }
MNT="$T/mount point"
tfs_mount "$CK" "$MNT" --log "$T/log" || tfs_done
ls "$MNT" >/dev/null # a first request, after which the readahead is tuned
S=$MNT/.tensorfs/stats
size=$(stat -c %s "$S")
check ".tensorfs/stats has a size ($size)" test "$size" -gt 0
check "cat gives st_size bytes" test "$(cat "$S" | wc -c)" = "$size"
$PY - "$S" <<'PYEOF' && ok || fail "stats through read and mmap is not whole JSON"
import json, mmap, sys
with open(sys.argv[1], "rb") as f:
    a = json.loads(f.read())
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    b = json.loads(bytes(m))
assert "opens" in a and "tensors" in b, (a, b)
PYEOF
(cd "$MNT" && tar cf "$T/stats.tar" .tensorfs/stats) && mkdir -p "$T/x" && tar xf "$T/stats.tar" -C "$T/x"
check "tar copies the whole stats JSON" $PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/x/.tensorfs/stats"
check "the mount with a space in its path is found in mountinfo" eval "! grep -q 'not in /proc/self/mountinfo' '$T/log'"
tfs_unmount "$MNT"
tfs_done
