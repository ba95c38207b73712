"""--view npy: every tensor is NAME.npy whose bytes equal what numpy.save writes for the tensor (its
dtype, or the documented stand-in, and shape) - header included, byte for byte - so
numpy.load(mmap_mode="r") maps it; reads at any offset (inside the header, across its end, in the
data) are exact; the user.tensorfs.npy xattr names the stand-in. Covers every safetensors dtype:
the generator's, plus a hand-written file with F4, F6_*, F8_E8M0, C64, a scalar and an empty tensor."""
import io
import json
import os
import random
import struct
import subprocess

import numpy as np

from common import Checker, Mount, gen, gen_ckpt, shard_slice, tmpdir

c = Checker("t_npy")
rng = random.Random(7)

# numpy's view of each dtype: (descr, stand-in or None)
NPY = {"BOOL": "|b1", "U8": "|u1", "I8": "|i1", "I16": "<i2", "U16": "<u2", "F16": "<f2",
       "I32": "<i4", "U32": "<u4", "F32": "<f4", "C64": "<c8", "F64": "<f8", "I64": "<i8",
       "U64": "<u8", "BF16": "<u2", "F8_E5M2": "|u1", "F8_E4M3": "|u1", "F8_E8M0": "|u1",
       "F4": "|u1", "F6_E2M3": "|u1", "F6_E3M2": "|u1"}
BITS = {"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
STANDIN = {"BF16", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"}


def npy_shape(dtype, shape, length):
    bits = BITS.get(dtype)
    if bits is None:
        return tuple(shape)
    if shape and shape[-1] * bits % 8 == 0:
        return tuple(shape[:-1]) + (shape[-1] * bits // 8,)
    return (length,)


def expected_file(dtype, shape, raw):
    arr = np.frombuffer(raw, dtype=np.dtype(NPY[dtype])).reshape(npy_shape(dtype, shape, len(raw)))
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue(), arr


def npy_path(t):
    comps = ([t["component"]] if t.get("component") else []) + t["name"].split(".")
    return "/".join(gen_ckpt.escape_component(x.encode())[0] for x in comps) + ".npy"


def check_tensor(mnt, t, raw, want_values=None):
    p = mnt.p(npy_path(t))
    want, arr = expected_file(t["dtype"], t["shape"], raw)
    try:
        with open(p, "rb") as f:
            got = f.read()
            c.eq(len(got), os.fstat(f.fileno()).st_size, "size", p)
            # reads at random offsets and lengths, some across the header's end
            hl = len(want) - len(raw)
            offs = [0, 1, hl - 1, hl, hl + 1] + [rng.randrange(0, len(want) + 1) for _ in range(4)]
            for off in offs:
                if off < 0:
                    continue
                n = rng.choice([1, 7, 64, 4096, len(want)])
                # drop the kernel's cached pages so the read reaches the mount at this offset
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                c.eq(os.pread(f.fileno(), n, off), want[off:off + n], "pread", "%s @%d+%d" % (p, off, n))
    except OSError as e:
        c.check(False, "open", "%s: %s" % (p, e))
        return
    c.check(got == want, "bytes = numpy.save", "%s %s %s (%d vs %d bytes)" % (
        p, t["dtype"], t["shape"], len(got), len(want)))
    mm = np.load(p, mmap_mode="r")
    c.check(mm.dtype == arr.dtype and mm.shape == arr.shape and np.array_equal(mm, arr),
            "np.load mmap", "%s %s %s" % (p, mm.dtype, mm.shape))
    if want_values is not None:
        c.check(np.array_equal(np.asarray(mm).view(want_values.dtype).reshape(want_values.shape),
                               want_values), "values", p)
    del mm
    x = subprocess.run(["getfattr", "--only-values", "-n", "user.tensorfs.npy", p],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode()
    c.check(x.startswith(NPY[t["dtype"]] + " ") and (("stand-in" in x) == (t["dtype"] in STANDIN)),
            "npy xattr", "%s: %r" % (p, x))


# 1: the generator's checkpoint, every dtype it writes
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 120, "--shards", 2, "--seed", 5)
with Mount(ck, ["--view", "npy"]) as mnt:
    seen = set()
    for t in m["tensors"]:
        check_tensor(mnt, t, shard_slice(m, t), gen_ckpt.tensor_array(t))
        seen.add(t["dtype"])
    c.eq(len(seen), len(gen_ckpt.ALL_DTYPES), "every generator dtype covered")
    # checkpoint files pass through unchanged, without a suffix
    for f in ("config.json",):
        if os.path.exists(os.path.join(ck, f)):
            c.eq(open(mnt.p(f), "rb").read(), open(os.path.join(ck, f), "rb").read(), "passthrough", f)
    c.eq(subprocess.run(["getfattr", "-n", "user.tensorfs.npy", mnt.p(npy_path(m["tensors"][0]))],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE).returncode, 0, "xattr listed")

# 2: the dtypes the generator lacks, written by hand
ents = [("a.f4", "F4", [3, 4]), ("a.f4odd", "F4", [2, 3]), ("b.f6", "F6_E2M3", [2, 4]),
        ("b.f6b", "F6_E3M2", [8]), ("c.e8m0", "F8_E8M0", [5]), ("c.c64", "C64", [2, 2]),
        ("d.bf16", "BF16", [3, 5]), ("scalar", "F32", []), ("empty", "F32", [0, 3]),
        ("a", "F16", [2])]   # "a" is also a folder: a.npy sits beside a/
hdr, off, data = {}, 0, b""
for name, dt, shape in ents:
    n = int(np.prod(shape)) if shape else 1
    nb = n * {"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "F8_E8M0": 8, "C64": 64, "BF16": 16,
              "F32": 32, "F16": 16}[dt] // 8
    raw = bytes(rng.randrange(256) for _ in range(nb))
    hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + nb]}
    off += nb
    data += raw
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
f2 = os.path.join(d, "odd.safetensors")
with open(f2, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
with Mount(f2, ["--view", "npy"]) as mnt:
    for name, dt, shape in ents:
        b, e = hdr[name]["data_offsets"]
        check_tensor(mnt, {"name": name, "dtype": dt, "shape": shape}, data[b:e])
    c.check(os.path.isdir(mnt.p("a")) and os.path.isfile(mnt.p("a.npy")), "a.npy beside a/")
    c.check(not os.path.exists(mnt.p("a/%self")), "no %self in the npy view")
c.done()
