"""A Hugging Face hub cache snapshot: every file of the folder is a symlink into ../../blobs/<hash>
(models--org--name/snapshots/<rev>/model-00001-of-00003.safetensors -> ../../blobs/...), and the CKPT
argument itself is often a symlink. The mount must follow them: same tree and bytes as the plain folder."""
import hashlib
import os
import shutil

from common import Checker, Mount, check_tree, gen, read_all, shard_slice, tmpdir

c = Checker("t_hf_cache")
d = tmpdir("ck")
plain = os.path.join(d, "plain")
m = gen("sharded", plain, "--tensors", 60, "--shards", 3, "--seed", 151, "--size-mb", 2)

repo = os.path.join(d, "hub", "models--org--tiny")
blobs = os.path.join(repo, "blobs")
snap = os.path.join(repo, "snapshots", "0123abcd")
os.makedirs(blobs)
for f in m["files"]:
    src = os.path.join(plain, f["rel"])
    h = hashlib.sha256(read_all(src)).hexdigest()
    shutil.copyfile(src, os.path.join(blobs, h))
    dst = os.path.join(snap, f["rel"])
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(os.path.relpath(os.path.join(blobs, h), os.path.dirname(dst)), dst)
os.makedirs(os.path.join(repo, "refs"))
with open(os.path.join(repo, "refs", "main"), "w") as f:
    f.write("0123abcd")
link = os.path.join(d, "tiny-latest")
os.symlink(snap, link)
m["hidden"] = []

for ck in (snap, link):
    try:
        with Mount(ck) as mnt:
            check_tree(c, mnt.path, m)
            for t in m["tensors"]:
                try:
                    c.check(read_all(mnt.p(t["path"])) == shard_slice(m, t), "tensor bytes", t["path"])
                except OSError as e:
                    c.check(False, "tensor read", "%s: %s" % (t["path"], e))
            for f in m["files"]:
                try:
                    st = os.lstat(mnt.p(f["rel"]))
                    c.eq(st.st_size, f["size"], "file size (not the symlink's)", f["rel"])
                    c.check(read_all(mnt.p(f["rel"])) == read_all(os.path.join(plain, f["rel"])), "file bytes",
                            f["rel"])
                except OSError as e:
                    c.check(False, "file access", "%s: %s" % (f["rel"], e))
    except RuntimeError as e:
        c.check(False, "mount a symlinked snapshot", str(e)[-400:])
c.done()
