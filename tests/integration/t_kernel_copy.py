"""--kernel-copy: the default mount reads tensor files in one copy (FOPEN_DIRECT_IO, so a
re-read reaches the daemon instead of the mount's page cache) when the build and kernel allow it, and
shared mmap of tensor files (np.memmap mode "r", mmap.mmap) and of shard files keeps working in
both modes; --kernel-copy two keeps re-reads in the kernel's page cache."""
import json
import mmap
import os

import numpy as np

from common import Checker, Mount, gen, gen_ckpt, read_all, tmpdir

c = Checker("t_kernel_copy")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 60, "--shards", 2, "--seed", 7, "--size-mb", 8)
big = [t for t in m["tensors"] if t["length"] >= 4096][:12]
shard = m["tensors"][0]["shard"]


def stats(mnt):
    return json.loads(read_all(mnt.p(".tensorfs/stats")))


def check_mmaps(mnt, mode):
    for t in big:
        p = mnt.p(t["path"])
        want = gen_ckpt.tensor_array(t)
        try:
            mm = np.memmap(p, dtype=gen_ckpt.numpy_dtype(t["dtype"]), mode="r", shape=tuple(t["shape"]))
            c.check(np.array_equal(np.asarray(mm), want), mode + ": np.memmap values", t["path"])
            del mm
            with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mv:
                c.check(mv[:] == gen_ckpt.tensor_bytes(t), mode + ": mmap.mmap bytes", t["path"])
        except (OSError, ValueError) as e:
            c.check(False, mode + ": shared mmap of a tensor file", "%s: %s" % (t["path"], e))
    try:
        with open(mnt.p(shard), "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mv:
            with open(os.path.join(ck, shard), "rb") as g:
                c.check(mv[:] == g.read(), mode + ": mmap.mmap of a shard file", shard)
    except OSError as e:
        c.check(False, mode + ": mmap of a shard file", "%s: %s" % (shard, e))


def rereads_reach_daemon(mnt):
    """Reads a tensor twice; True when the second read was served by the daemon (one copy)."""
    p = mnt.p(big[0]["path"])
    read_all(p)
    r0 = stats(mnt)["reads"]
    got = read_all(p)
    c.check(got == gen_ckpt.tensor_bytes(big[0]), "re-read bytes", big[0]["path"])
    return stats(mnt)["reads"] > r0


with Mount(ck) as mnt:
    kc = stats(mnt).get("kernel_copy", "")
    c.check(kc == "one" or kc.startswith("two: "), "default kernel_copy is one or says why not", kc)
    if kc == "one":
        c.check(rereads_reach_daemon(mnt), "one copy: a re-read reaches the daemon (direct_io)")
    else:
        print("t_kernel_copy: default mount runs in page-cache mode (%s)" % kc)
    check_mmaps(mnt, "default")

with Mount(ck, ["--kernel-copy", "two"]) as mnt:
    c.eq(stats(mnt).get("kernel_copy"), "two", "--kernel-copy two in stats")
    c.check(not rereads_reach_daemon(mnt), "two copies: a re-read stays in the page cache")
    check_mmaps(mnt, "two")
c.done()
