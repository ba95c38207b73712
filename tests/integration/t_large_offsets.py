"""Offsets past 4 GiB: a sparse shard whose first tensor is 5 GiB of zeros (a hole, no disk used) and
whose next tensors sit beyond it. Checks stat size > 4 GiB, xattr offset, reads of the far tensors,
reads near the end of the huge one, and a pread crossing its end (lazy, small cache: nothing warms)."""
import json
import os
import random
import struct

from common import Checker, Mount, read_all, tmpdir

c = Checker("t_large_offsets")
d = tmpdir("ck")
path = os.path.join(d, "big.safetensors")
BIG = 5 << 30
rnd = random.Random(1)
tail1 = bytes(rnd.getrandbits(8) for _ in range(4096 * 3 + 5))
tail2 = bytes(rnd.getrandbits(8) for _ in range(8 * 1000))
hdr = {"__metadata__": {"format": "pt"},
       "huge.zeros": {"dtype": "U8", "shape": [BIG], "data_offsets": [0, BIG]},
       "after.huge": {"dtype": "U8", "shape": [len(tail1)], "data_offsets": [BIG, BIG + len(tail1)]},
       "last.f64": {"dtype": "F64", "shape": [10, 100], "data_offsets": [BIG + len(tail1), BIG + len(tail1) + 8000]}}
hj = json.dumps(hdr).encode()
hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
ds = 8 + len(hj)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj)
    f.seek(ds + BIG)          # the hole
    f.write(tail1 + tail2)
st_disk = os.stat(path)
assert st_disk.st_size == ds + BIG + len(tail1) + len(tail2)

with Mount(path, ["--strategy", "lazy", "--cache-size", "16777216"]) as mnt:
    h = mnt.p("huge/zeros")
    c.eq(os.stat(h).st_size, BIG, "stat size of a 5 GiB tensor")
    c.eq(os.getxattr(mnt.p("after/huge"), "user.tensorfs.offset"), str(ds + BIG).encode(), "xattr offset > 4 GiB")
    c.eq(os.getxattr(h, "user.tensorfs.shape"), str(BIG).encode(), "xattr shape > 2^32")
    c.check(read_all(mnt.p("after/huge")) == tail1, "tensor beyond 5 GiB: bytes")
    c.check(read_all(mnt.p("last/f64")) == tail2, "last tensor: bytes")
    with open(h, "rb") as f:
        fd = f.fileno()
        for off in (0, (4 << 30) - 3, (4 << 30), BIG - 4096, BIG - 1):
            got = os.pread(fd, 4096, off)
            c.eq(len(got), min(4096, BIG - off), "pread length near %d" % off)
            c.check(got == bytes(len(got)), "zeros near %d" % off)
        c.eq(os.pread(fd, 10, BIG), b"", "pread at the end of a 5 GiB tensor")
        c.eq(os.pread(fd, 10, BIG + 100), b"", "pread past the end of a 5 GiB tensor")
    with open(mnt.p("after/huge"), "rb") as f:
        c.eq(os.pread(f.fileno(), 100000, 4096), tail1[4096:], "short read crossing the end, far offset")
    c.eq(os.stat(mnt.p("big.safetensors")).st_size, st_disk.st_size, "passthrough shard size > 4 GiB")
    with open(mnt.p("big.safetensors"), "rb") as f:
        c.eq(os.pread(f.fileno(), 64, ds + BIG - 32), bytes(32) + tail1[:32], "passthrough read across 5 GiB")
c.done()
