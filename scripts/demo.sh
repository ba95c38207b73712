#!/bin/bash
# demo.sh - `make demo`: builds a small sharded sample checkpoint, mounts it with tensorfs and shows
# what a user sees: the tensor table, the tree, xattrs, raw bytes, numpy reading a tensor, live stats.
# Always unmounts, also on failure or Ctrl-C. TENSORFS names the binary (make sets it).
case "${1:-}" in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
TENSORFS=${TENSORFS:-$REPO/build/tensorfs}
PY=/usr/bin/python3
DEMO=${DEMO_DIR:-$REPO/build/demo}
CK=$DEMO/llama-mini
MNT=$DEMO/mnt

if [ -t 1 ]; then B='\033[1m' N='\033[0m'; else B='' N=''; fi
say() { printf "\n${B}\$ %s${N}\n" "$*"; }
run() { say "$*"; "$@"; }

cleanup() {
	if awk -v m="$MNT" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$TENSORFS" ] || { echo "demo: $TENSORFS not built (run make)" >&2; exit 1; }
mkdir -p "$DEMO" "$MNT"
cleanup # a mount left over from an interrupted demo
rm -rf "$CK" "$CK.manifest.json"
run $PY "$REPO/tests/gen_ckpt.py" sharded "$CK" --tensors 60 --shards 3 --size-mb 8 --seed 2024 --dtypes BF16,F16,F32
run ls -l "$CK"

say "$(basename "$TENSORFS") ls $CK | head -12"
"$TENSORFS" ls "$CK" | head -12

run "$TENSORFS" mount "$CK" "$MNT"
run ls -l "$MNT"
run ls -l "$MNT/model/layers/0/self_attn"
W=$MNT/model/layers/0/self_attn/q_proj/weight
[ -e "$W" ] || W="$MNT/$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["tensors"][1]["path"])' "$CK.manifest.json")"
run getfattr -d --absolute-names "$W"
say "head -c 64 $W | xxd"
head -c 64 "$W" | xxd
say "numpy.fromfile($W, dtype from user.tensorfs.dtype).reshape(user.tensorfs.shape)"
$PY - "$W" "$REPO/tests" <<'EOF'
import os, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from gen_ckpt import numpy_dtype
p = sys.argv[1]
dt = os.getxattr(p, "user.tensorfs.dtype").decode()
shape = [int(x) for x in os.getxattr(p, "user.tensorfs.shape").decode().split(",") if x]
a = np.fromfile(p, dtype=numpy_dtype(dt)).reshape(shape)
if dt == "BF16":  # numpy has no bfloat16: widen the bits to float32
    a = (a.astype(np.uint32) << 16).view(np.float32)
print("%s %s -> numpy %s %s" % (dt, shape, a.dtype, a.shape))
print(np.array2string(a.ravel()[:8], precision=4), "...")
EOF
say "cat $MNT/.tensorfs/stats"
$PY -m json.tool "$MNT/.tensorfs/stats" 2>/dev/null || cat "$MNT/.tensorfs/stats"
run fusermount3 -u "$MNT"
echo
echo "demo: done (checkpoint left in $CK; mount it again with: $TENSORFS mount $CK $MNT)"
