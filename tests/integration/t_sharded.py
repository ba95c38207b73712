"""Sharded checkpoint (240 tensors, 3 shards, every dtype): the tree is exactly tensors + files, every
tensor's bytes equal its shard slice, stat sizes/modes/owners, passthrough files are the same bytes."""
import os
import stat

from common import Checker, Mount, check_tree, gen, read_all, shard_slice, tmpdir

c = Checker("t_sharded")
d = tmpdir("ck")
ck = os.path.join(d, "llama")
m = gen("sharded", ck, "--tensors", 240, "--shards", 3, "--seed", 7, "--size-mb", 6)
assert len({t["shard"] for t in m["tensors"]}) == 3 and len(m["tensors"]) == 240

with Mount(ck) as mnt:
    check_tree(c, mnt.path, m)
    uid, gid = os.getuid(), os.getgid()
    dirs = set()
    for t in m["tensors"]:
        p = mnt.p(t["path"])
        try:
            st = os.stat(p)
        except OSError as e:
            c.check(False, "stat tensor", "%s: %s" % (t["path"], e))
            continue
        c.eq(st.st_size, t["length"], "tensor size", t["path"])
        c.eq(stat.S_IFMT(st.st_mode), stat.S_IFREG, "tensor is a regular file", t["path"])
        c.eq(stat.S_IMODE(st.st_mode), 0o444, "tensor mode 0444", t["path"])
        c.check(st.st_uid == uid and st.st_gid == gid, "tensor owner", "%s %d:%d" % (t["path"], st.st_uid, st.st_gid))
        c.check(read_all(p) == shard_slice(m, t), "tensor bytes == shard slice", t["path"])
        parts = t["path"].split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    for dpath in sorted(dirs) + [""]:
        st = os.stat(mnt.p(dpath))
        c.check(stat.S_ISDIR(st.st_mode), "dir is a directory", dpath)
        c.eq(stat.S_IMODE(st.st_mode), 0o555, "dir mode 0555", dpath or "/")
        c.check(st.st_uid == uid and st.st_gid == gid, "dir owner", dpath)
    for f in m["files"]:
        p = mnt.p(f["rel"])
        st = os.stat(p)
        c.eq(st.st_size, f["size"], "file size", f["rel"])
        c.check(stat.S_ISREG(st.st_mode) and not (st.st_mode & 0o222), "file read-only regular",
                "%s %o" % (f["rel"], st.st_mode))
        c.check(read_all(p) == read_all(os.path.join(ck, f["rel"])), "file bytes", f["rel"])
    # readdir of a layer dir lists what the tree implies, and ls of the root has the top entries
    top = set(os.listdir(mnt.path))
    for want in ("model", "lm_head", "config.json", "model.safetensors.index.json", "tokenizer.json",
                 "original", ".tensorfs", "model-00001-of-00003.safetensors"):
        c.check(want in top, "root entry", want)
    c.check(".gitattributes" not in top and ".cache" not in top, "dot-files hidden", repr(sorted(top)))
    layer0 = set(os.listdir(mnt.p("model/layers/0")))
    c.check({"self_attn", "mlp", "input_layernorm"} <= layer0, "layer dir entries", repr(sorted(layer0)))
c.done()
