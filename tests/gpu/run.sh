#!/bin/sh
# tests/gpu/run.sh - the GPU check of device placement (needs nvcc and a CUDA GPU; CI skips it).
#
# Builds libtensorfs, `tensorfs` and the CUDA plugin libtensorfs-cuda.so (B=build-gpu; the library
# loads the plugin from its own folder on the first CUDA request), generates a multi-GiB sharded checkpoint,
# loads it to cuda:N with --verify (every tensor copied back and its XXH3 compared with the file),
# and measures, in the same run and with the same (warm) page cache, a plain pread + cudaMemcpy
# baseline (tests/gpu/baseline.cu). Prints both GB/s and their ratio; exits non-zero on failure.
#
# Environment: TFS_GPU_MB (checkpoint size, default 4096), TFS_GPU_DIR (where to write it, default
# /tmp/tfs-gpu), TFS_GPU_DEVICE (default 0), NVCC (default: found on PATH or /usr/local/cuda).
set -eu
case ${1:-} in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/../.."
MB=${TFS_GPU_MB:-4096}
DIR=${TFS_GPU_DIR:-/tmp/tfs-gpu}
DEV=${TFS_GPU_DEVICE:-0}
B=build-gpu
NVCC=${NVCC:-$(command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)}
if [ -z "$NVCC" ]; then
	echo "gpu: no nvcc found: skipped"
	exit 0
fi
CUDA_HOME=${NVCC%/bin/nvcc}

make --no-print-directory -j"$(nproc)" B=$B NVCC="$NVCC" $B/tensorfs $B/libtensorfs.so \
	$B/libtensorfs-cuda.so >/dev/null
if [ ! -f $B/libtensorfs-cuda.so ]; then
	echo "gpu: $B/libtensorfs-cuda.so was not built" >&2
	exit 1
fi
"$NVCC" -O2 -o $B/baseline tests/gpu/baseline.cu
if ! nvidia-smi -L >/dev/null 2>&1; then
	echo "gpu: built with CUDA, but no GPU here (nvidia-smi -L failed): nothing to run"
	exit 0
fi

CK=$DIR/ck
if [ ! -f "$CK/model.safetensors.index.json" ] || [ "$(cat "$DIR/mb" 2>/dev/null)" != "$MB" ]; then
	rm -rf "$DIR"
	mkdir -p "$DIR"
	if ! /usr/bin/python3 tests/gen_ckpt.py sharded "$CK" --tensors 1000 --shards 10 \
		--total-mb "$MB" >/dev/null; then
		# Fallback without numpy: U8 tensors of a repeating pattern, 10 shards.
		/usr/bin/python3 - "$CK" "$MB" <<'EOF'
import json, os, struct, sys
out, mb = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
per = mb * (1 << 20) // 1000
pattern = bytes(range(256)) * (per // 256 + 1)
wm = {}
for s in range(10):
    name = "model-%05d-of-00010.safetensors" % (s + 1)
    hdr, off = {}, 0
    for t in range(100):
        key = "model.layers.%d.w%d" % (s, t)
        hdr[key] = {"dtype": "U8", "shape": [per], "data_offsets": [off, off + per]}
        off += per
        wm[key] = name
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for t in range(100):
            f.write(pattern[t % 256:t % 256 + per])
with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {}, "weight_map": wm}, f)
EOF
	fi
	echo "$MB" >"$DIR/mb"
fi

# Same starting point for both: the shards in the page cache (this measures the pipeline to the
# GPU, not the disk; drop the caches by hand for cold numbers).
cat "$CK"/*.safetensors >/dev/null
echo "gpu: $("$B/tensorfs" ls "$CK" | tail -n 1)"
base=$("$B/baseline" --device "$DEV" "$CK"/*.safetensors)
echo "$base"
report=$("$B/tensorfs" load "$CK" --device "cuda:$DEV" --verify --json)
echo "tensorfs: $report"
"$B/tensorfs" load "$CK" --device "cuda:$DEV" | sed 's/^/tensorfs: /'
/usr/bin/python3 - "$base" "$report" <<'EOF'
import json, re, sys
base = float(re.search(r"([0-9.]+) GB/s", sys.argv[1]).group(1))
rep = json.loads(sys.argv[2].splitlines()[0])
print("gpu: tensorfs load %.2f GB/s (%d tensors, %.2f GiB, %.1f%% straight from cache blocks), "
      "baseline pread+cudaMemcpy %.2f GB/s: ratio %.2fx"
      % (rep["gbps"], rep["tensors"], rep["bytes"] / 2**30,
         100.0 * rep["bytes_direct"] / max(rep["bytes"], 1), base, rep["gbps"] / base))
EOF
