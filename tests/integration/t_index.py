""".tensorfs/index.json parses and matches the manifest: layout, root, every tensor's key, name,
component, dtype, shape, file, offset, length, path; the files list (rel, size, is_shard)."""
import json
import os
import stat

from common import Checker, Mount, gen, read_all, tmpdir

c = Checker("t_index")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 210, "--shards", 3, "--seed", 91)

with Mount(ck) as mnt:
    p = mnt.p(".tensorfs/index.json")
    st = os.stat(p)
    c.check(stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222, "index.json read-only file", oct(st.st_mode))
    raw = read_all(p)
    c.check(st.st_size == len(raw), "index.json stat size == bytes read", "%d vs %d" % (st.st_size, len(raw)))
    idx = json.loads(raw)
    c.eq(idx.get("layout"), "sharded", "layout")
    c.eq(os.path.realpath(idx.get("root", "")), os.path.realpath(ck), "root")
    files = idx.get("files", [])
    c.eq(sorted(f.get("rel") for f in files), sorted(f["rel"] for f in m["files"]), "files rels")
    fby = {f.get("rel"): f for f in files}
    for f in m["files"]:
        g = fby.get(f["rel"], {})
        c.eq(g.get("size"), f["size"], "file size", f["rel"])
        c.eq(bool(g.get("is_shard")), f["is_shard"], "file is_shard", f["rel"])
    tl = idx.get("tensors", [])
    c.eq(len(tl), len(m["tensors"]), "tensor count")
    byk = {x.get("key"): x for x in tl}
    for t in m["tensors"]:
        x = byk.get(t["key"])
        if not c.check(x is not None, "tensor in index", t["key"]):
            continue
        for k in ("name", "component", "dtype", "shape", "offset", "length", "path"):
            c.eq(x.get(k), t[k], "tensor " + k, t["key"])
        fv = x.get("file")
        if isinstance(fv, int):
            c.check(0 <= fv < len(files) and files[fv].get("rel") == t["shard"], "tensor file (index)",
                    "%s: %r" % (t["key"], fv))
        else:
            c.eq(fv, t["shard"], "tensor file (rel)", t["key"])
    # tensors listed in on-disk order: (position of the file in "files", offset), as the catalog promises
    fpos = {f.get("rel"): i for i, f in enumerate(files)}
    order = [(x.get("file") if isinstance(x.get("file"), int) else fpos.get(x.get("file"), -1), x.get("offset"))
             for x in tl]
    c.check(order == sorted(order), "tensors in (file, offset) order")
    # re-reading gives the same bytes (a virtual file must not change between reads)
    c.check(read_all(p) == raw, "index.json stable")
c.done()
