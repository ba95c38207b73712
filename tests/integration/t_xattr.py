"""xattrs on tensor files: dtype, shape, shard, offset, name for every tensor; xxh3 for a sample of a
sharded checkpoint and for every tensor of a small single-file one; listxattr; getfattr -d."""
import errno
import os
import random
import subprocess

from common import XATTRS, Checker, Mount, gen, shard_slice, tmpdir, xxh3

c = Checker("t_xattr")


def check_tensor(c, m, mnt, t, with_hash):
    p = mnt.p(t["path"])

    def get(n):
        try:
            return os.getxattr(p, n)
        except OSError as e:
            c.check(False, "getxattr " + n, "%s: %s" % (t["path"], e))
            return None
    c.eq(get("user.tensorfs.dtype"), t["dtype"].encode(), "xattr dtype", t["path"])
    c.eq(get("user.tensorfs.shape"), ",".join(str(x) for x in t["shape"]).encode(), "xattr shape", t["path"])
    c.eq(get("user.tensorfs.shard"), t["shard"].encode(), "xattr shard", t["path"])
    c.eq(get("user.tensorfs.offset"), str(t["offset"]).encode(), "xattr offset", t["path"])
    c.eq(get("user.tensorfs.name"), t["name"].encode(), "xattr name", t["path"])
    if with_hash:
        c.eq(get("user.tensorfs.xxh3"), xxh3(shard_slice(m, t)).encode(), "xattr xxh3", t["path"])
    try:
        names = set(os.listxattr(p))
    except OSError as e:
        names = set()
        c.check(False, "listxattr", "%s: %s" % (t["path"], e))
    c.check(set(XATTRS) <= names, "listxattr has all six", "%s: %r" % (t["path"], sorted(names)))


d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 200, "--shards", 3, "--seed", 11)
rnd = random.Random(5)
sample = set(rnd.sample(range(len(m["tensors"])), 20)) | {0}  # 0 is the big multi-block tensor
with Mount(ck) as mnt:
    for i, t in enumerate(m["tensors"]):
        check_tensor(c, m, mnt, t, i in sample)
    t = m["tensors"][0]
    p = mnt.p(t["path"])
    c.errno_is(lambda: os.getxattr(p, "user.tensorfs.nope"), errno.ENODATA, "unknown xattr -> ENODATA")
    r = subprocess.run(["getfattr", "-d", "--absolute-names", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode(errors="replace")
    c.eq(r.returncode, 0, "getfattr -d exit", r.stderr.decode(errors="replace"))
    for n in XATTRS:
        c.check(n + "=" in out, "getfattr -d lists " + n, out[:300])
    c.check('user.tensorfs.dtype="%s"' % t["dtype"] in out, "getfattr -d dtype value", out[:300])
    r = subprocess.run(["getfattr", "--absolute-names", "--only-values", "-n", "user.tensorfs.offset", p], stdout=subprocess.PIPE)
    c.eq(r.stdout, str(t["offset"]).encode(), "getfattr --only-values offset")

# small single-file checkpoint: xxh3 of every tensor (scalars, empty tensors included)
ck1 = os.path.join(d, "one.safetensors")
m1 = gen("single", ck1, "--tensors", 40, "--seed", 12)
with Mount(ck1) as mnt:
    for t in m1["tensors"]:
        check_tensor(c, m1, mnt, t, True)
    scal = [t for t in m1["tensors"] if t["shape"] == []]
    c.check(bool(scal), "generator made a scalar")
    for t in scal:
        c.eq(os.getxattr(mnt.p(t["path"]), "user.tensorfs.shape"), b"", "scalar shape is empty", t["path"])
c.done()
