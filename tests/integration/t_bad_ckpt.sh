#!/bin/bash
# Bad checkpoints (safetensors and GGUF) and mount points: `ls` exits 1 with one stderr line naming the file; `mount` exits
# non-zero with the message on stderr before anything is mounted, and leaves no daemon behind.
. "$(dirname "$0")/lib.sh"

B=$T/bad
mkdir -p "$B"
MNT=$T/mnt
mkdir -p "$MNT"
# Each case: a checkpoint path and the file name the error must mention.
$PY - "$B" <<'EOF' || fail "making bad checkpoints"
import json, os, struct, sys
b = sys.argv[1]
def st(name, header, data=b"", raw_header=None, hlen=None):
    hj = raw_header if raw_header is not None else json.dumps(header).encode()
    with open(os.path.join(b, name), "wb") as f:
        f.write(struct.pack("<Q", len(hj) if hlen is None else hlen) + hj + data)
T = lambda dt, shape, o: {"dtype": dt, "shape": shape, "data_offsets": o}
st("trunc_header.safetensors", None, raw_header=b'{"a":{"dtype":"U8","shape":[4],"data_', hlen=1000)
st("garbage_json.safetensors", None, raw_header=b"{this is not json at all}   ")
st("not_object.safetensors", None, raw_header=b'[1, 2, 3]')
st("not_utf8.safetensors", None, raw_header=b'{"\xff\xfe":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', data=b"x")
st("huge_len.safetensors", None, raw_header=b"{}", hlen=1 << 40)
st("gap.safetensors", {"a": T("U8", [4], [0, 4]), "b": T("U8", [4], [8, 12])}, data=bytes(12))
st("overlap.safetensors", {"a": T("U8", [4], [0, 4]), "b": T("U8", [4], [2, 6])}, data=bytes(6))
st("bad_dtype.safetensors", {"a": T("Q7", [4], [0, 4])}, data=bytes(4))
st("len_mismatch.safetensors", {"a": T("F32", [4], [0, 12])}, data=bytes(12))
st("short_data.safetensors", {"a": T("F32", [4], [0, 16])}, data=bytes(10))
st("long_data.safetensors", {"a": T("F32", [4], [0, 16])}, data=bytes(20))
st("shape_overflow.safetensors", {"a": T("F64", [1 << 62, 1 << 62], [0, 8])}, data=bytes(8))
with open(os.path.join(b, "tiny.safetensors"), "wb") as f:
    f.write(b"\x01\x02\x03")
open(os.path.join(b, "empty.safetensors"), "wb").close()
# sharded folder whose index names a shard that is not there
os.makedirs(os.path.join(b, "missing_shard"))
good = {"__metadata__": {"format": "pt"}, "w": T("U8", [4], [0, 4])}
st("missing_shard/model-00001-of-00002.safetensors", good, data=bytes(4))
with open(os.path.join(b, "missing_shard/model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": 8}, "weight_map": {"w": "model-00001-of-00002.safetensors",
               "v": "model-00002-of-00002.safetensors"}}, f)
# sharded folder with a garbage index
os.makedirs(os.path.join(b, "bad_index"))
st("bad_index/model-00001-of-00001.safetensors", good, data=bytes(4))
with open(os.path.join(b, "bad_index/model.safetensors.index.json"), "w") as f:
    f.write('{"weight_map": {"w": ')
# diffusers folder whose unet shard is broken
os.makedirs(os.path.join(b, "bad_diffusers/unet"))
with open(os.path.join(b, "bad_diffusers/model_index.json"), "w") as f:
    json.dump({"_class_name": "X", "unet": ["diffusers", "UNet2DConditionModel"]}, f)
st("bad_diffusers/unet/diffusion_pytorch_model.safetensors", None, raw_header=b"{oops", hlen=5)
os.makedirs(os.path.join(b, "empty_dir"))
# GGUF (docs/FORMATS.md): head, key/values, tensor infos, aligned data
def gs(s):
    return struct.pack("<Q", len(s)) + s
def gg(name, version=3, kv=b"", n_kv=0, infos=b"", n_t=0, data_len=0, magic=b"GGUF", cut=None):
    body = magic + struct.pack("<IQQ", version, n_t, n_kv) + kv + infos
    body += bytes(-len(body) % 32) + bytes(data_len)
    with open(os.path.join(b, name), "wb") as f:
        f.write(body[:cut])
def ti(name, dims, typ, off):
    return (gs(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            + struct.pack("<IQ", typ, off))
kv_arch = gs(b"general.architecture") + struct.pack("<I", 8) + gs(b"llama")
gg("gguf_version1.gguf", version=1)
gg("gguf_bigendian.gguf", version=3 << 24)
gg("gguf_trunc.gguf", kv=kv_arch, n_kv=1, infos=ti(b"w", [32], 0, 0), n_t=1, data_len=128, cut=60)
gg("gguf_strlen.gguf", kv=b"\xff" * 8 + b"k", n_kv=1)
gg("gguf_type.gguf", infos=ti(b"w", [32], 77, 0), n_t=1, data_len=128)
gg("gguf_overlap.gguf", infos=ti(b"a", [32], 0, 0) + ti(b"b", [32], 0, 64), n_t=2, data_len=256)
gg("gguf_misaligned.gguf", infos=ti(b"a", [32], 0, 16), n_t=1, data_len=256)
gg("gguf_dup.gguf", infos=ti(b"a", [8], 0, 0) + ti(b"a", [8], 0, 32), n_t=2, data_len=64)
gg("gguf_past_end.gguf", infos=ti(b"a", [64], 0, 0), n_t=1, data_len=100)
gg("gguf_blocks.gguf", infos=ti(b"a", [33], 2, 0), n_t=1, data_len=64)
gg("gguf_magic.gguf", magic=b"GGUX")
EOF

cases="trunc_header.safetensors:trunc_header.safetensors
garbage_json.safetensors:garbage_json.safetensors
not_object.safetensors:not_object.safetensors
not_utf8.safetensors:not_utf8.safetensors
huge_len.safetensors:huge_len.safetensors
gap.safetensors:gap.safetensors
overlap.safetensors:overlap.safetensors
bad_dtype.safetensors:bad_dtype.safetensors
len_mismatch.safetensors:len_mismatch.safetensors
short_data.safetensors:short_data.safetensors
long_data.safetensors:long_data.safetensors
shape_overflow.safetensors:shape_overflow.safetensors
tiny.safetensors:tiny.safetensors
empty.safetensors:empty.safetensors
missing_shard:model-00002-of-00002.safetensors
bad_index:model.safetensors.index.json
bad_diffusers:diffusion_pytorch_model.safetensors
empty_dir:empty_dir
does_not_exist:does_not_exist
gguf_version1.gguf:gguf_version1.gguf: GGUF version 1
gguf_bigendian.gguf:gguf_bigendian.gguf: big-endian
gguf_trunc.gguf:gguf_trunc.gguf
gguf_strlen.gguf:gguf_strlen.gguf
gguf_type.gguf:gguf_type.gguf: tensor 'w' has unknown ggml type 77
gguf_overlap.gguf:gguf_overlap.gguf: tensor 'b' overlaps
gguf_misaligned.gguf:gguf_misaligned.gguf: tensor 'a': offset 16 is not a multiple of the alignment
gguf_dup.gguf:gguf_dup.gguf: duplicate tensor name 'a'
gguf_past_end.gguf:gguf_past_end.gguf
gguf_blocks.gguf:gguf_blocks.gguf: tensor 'a': Q4_0 needs
gguf_magic.gguf:gguf_magic.gguf"

while IFS=: read -r ck names; do
	timeout 20 "$TENSORFS" ls "$B/$ck" >"$T/out" 2>"$T/err"
	rc=$?
	check "ls $ck exits 1 (rc=$rc)" test $rc = 1
	check "ls $ck: one stderr line (got $(wc -l <"$T/err"): $(head -c 300 "$T/err"))" test "$(wc -l <"$T/err")" = 1
	check "ls $ck: error names $names ($(head -c 300 "$T/err"))" grep -qF -- "$names" "$T/err"
	check "ls $ck: no table on stdout" test ! -s "$T/out"

	timeout 20 "$TENSORFS" mount "$B/$ck" "$MNT" >"$T/out" 2>"$T/err"
	rc=$?
	check "mount $ck exits non-zero (rc=$rc)" test $rc != 0 -a $rc != 124
	check "mount $ck: error names $names ($(head -c 300 "$T/err"))" grep -qF -- "$names" "$T/err"
	if is_mounted "$MNT"; then
		fail "mount $ck: mounted anyway"
		track_mount "$MNT"
		force_unmount "$MNT"
	else ok; fi
	[ -z "$(daemon_pids "$MNT")" ] && ok || fail "mount $ck: daemon left running"
done <<<"$cases"

# mount point problems, with a good checkpoint
$GEN single "$T/good.safetensors" --tensors 4 --seed 3 -q || fail "gen good"
timeout 20 "$TENSORFS" mount "$T/good.safetensors" "$T/no/such/dir" >"$T/out" 2>"$T/err"
rc=$?
check "missing mountpoint: non-zero (rc=$rc)" test $rc != 0 -a $rc != 124
check "missing mountpoint: error names it ($(head -c 300 "$T/err"))" grep -qF -- "no/such/dir" "$T/err"
: >"$T/afile"
timeout 20 "$TENSORFS" mount "$T/good.safetensors" "$T/afile" >"$T/out" 2>"$T/err"
rc=$?
check "mountpoint is a file: non-zero (rc=$rc)" test $rc != 0 -a $rc != 124
check "mountpoint is a file: says why" test -s "$T/err"
is_mounted "$T/afile" && { fail "mounted on a file"; track_mount "$T/afile"; }
# mounting twice on the same point: the second one fails, the first keeps working
if tfs_mount "$T/good.safetensors" "$MNT"; then
	timeout 20 "$TENSORFS" mount "$T/good.safetensors" "$MNT" >"$T/out" 2>"$T/err"
	rc=$?
	# a second FUSE mount stacked on top would also be legal for the kernel; only require that the
	# command does not hang and the tree still reads
	check "second mount on the same point returns (rc=$rc)" test $rc != 124
	check "first mount still serves" test -d "$MNT/.tensorfs"
	while is_mounted "$MNT"; do fusermount3 -u "$MNT" 2>/dev/null || break; done
fi
tfs_done
