"""Single x.safetensors checkpoint: the mount shows its tensors and just that one file (not its
siblings); index.json layout "safetensors"; a relative CKPT and MOUNTPOINT work in daemon mode (the
daemon must resolve them before it changes directory)."""
import json
import os

from common import Checker, Mount, check_tree, gen, read_all, shard_slice, tmpdir

c = Checker("t_single")
d = tmpdir("ck")
ck = os.path.join(d, "one.safetensors")
m = gen("single", ck, "--tensors", 40, "--seed", 61)
with open(os.path.join(d, "config.json"), "w") as f:   # a sibling that must not show
    f.write("{}\n")

with Mount(ck) as mnt:
    check_tree(c, mnt.path, m)   # exactly: tensors + one.safetensors + .tensorfs/*
    top = set(os.listdir(mnt.path))
    c.check("one.safetensors" in top, "the file itself is shown")
    c.check("config.json" not in top and "one.safetensors.manifest.json" not in top, "siblings hidden",
            repr(sorted(top)))
    c.check(read_all(mnt.p("one.safetensors")) == read_all(ck), "file passthrough bytes")
    for t in m["tensors"]:
        c.check(read_all(mnt.p(t["path"])) == shard_slice(m, t), "tensor bytes", t["path"])
        c.eq(os.getxattr(mnt.p(t["path"]), "user.tensorfs.shard"), b"one.safetensors", "xattr shard")
    idx = json.loads(read_all(mnt.p(".tensorfs/index.json")))
    c.eq(idx.get("layout"), "safetensors", "index layout")

# relative paths, daemon mode
os.makedirs(os.path.join(d, "relmnt"))
try:
    with Mount("one.safetensors", mnt=os.path.join(d, "relmnt"), mnt_arg="relmnt", cwd=d) as mnt:
        t = m["tensors"][0]
        c.check(read_all(mnt.p(t["path"])) == shard_slice(m, t), "relative paths: tensor bytes")
        c.check(read_all(mnt.p("one.safetensors")) == read_all(ck), "relative paths: file bytes")
except RuntimeError as e:
    c.check(False, "mount with relative CKPT and MOUNTPOINT", str(e))
c.done()
