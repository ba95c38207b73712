"""Tricky tensor names (a folder holding one model.safetensors whose header uses \\u escapes):
  a.b + a.b.c      -> a/b/%self and a/b/c          a..b     -> a/%/b      .lead -> %/lead
  %x               -> %25x                         slash/in -> slash%2Fin  ctl\\x01 -> ctl%01
  unicode          -> unchanged UTF-8              >255-byte component -> cut + ~ + 16 hex digits
Checks the exact tree, index.json paths, xattr name, bytes, and that unknown names give ENOENT."""
import errno
import json
import os
import re
import stat

from common import (Checker, Mount, check_tree, find_path, gen, hashed_path_re, read_all, shard_slice,
                    tmpdir)

c = Checker("t_names")
d = tmpdir("ck")
ck = os.path.join(d, "names")
m = gen("names", ck, "--seed", 71)
by_name = {t["name"]: t for t in m["tensors"]}

# the expectations of the spec, spelled out (the generator computes the same; this pins them down)
SPOT = {
    "a.b": "a/b/%self", "a.b.c": "a/b/c", "a": "a/%self", "a..b": "a/%/b", ".lead": "%/lead",
    "trail.": "trail/%", "x...y": "x/%/%/y", "%x": "%25x", "p%q.r": "p%25q/r", "q.%self": "q/%25self",
    "slash/in.name": "slash%2Fin/name", "x%2F.w": "x%252F/w", "x/.w": "x%2F/w", "ctl\x01x.w": "ctl%01x/w",
    "tab\tx.w": "tab%09x/w", "del\x7f.w": "del%7F/w", "nl\nx.w": "nl%0Ax/w", "模型.层.0.权重": "模型/层/0/权重",
    "émoji🙂.w": "émoji🙂/w", "with space.w": "with space/w", ".tensorfs.x": "%/tensorfs/x",
    "L" * 255 + ".w": "L" * 255 + "/w",
}
for n, p in SPOT.items():
    assert by_name[n]["path"] == p, (n, by_name[n]["path"], p)

with Mount(ck) as mnt:
    check_tree(c, mnt.path, m)
    for n, p in SPOT.items():
        c.check(os.path.isfile(mnt.p(p)), "tensor file at spec path", "%r -> %r" % (n, p))
    c.check(stat.S_ISDIR(os.stat(mnt.p("a/b")).st_mode), "a/b is a dir (prefix of a.b.c)")
    c.check(set(os.listdir(mnt.p("a/b"))) == {"%self", "c", "d"}, "a/b entries",
            repr(sorted(os.listdir(mnt.p("a/b")))))
    c.check(os.path.isdir(mnt.p(".tensorfs")) and os.path.isfile(mnt.p(".tensorfs/index.json")),
            "virtual .tensorfs still there beside %/tensorfs")
    # long components
    long_dirs = {}
    for t in m["tensors"]:
        if t["path_hashed"]:
            p = find_path(mnt.path, t)
            rel = os.path.relpath(p, mnt.path)
            c.check(hashed_path_re(t).match(rel) is not None, "long component cut + ~hash", repr(rel[:80]))
            first = rel.split("/")[0]
            c.check(len(first.encode()) <= 255, "long component <= 255 bytes", str(len(first.encode())))
            long_dirs[t["name"]] = first
    ndirs = [long_dirs.get("N" * 270 + ".k1"), long_dirs.get("N" * 270 + "X.k2")]
    c.check(None not in ndirs and ndirs[0] != ndirs[1], "two long components sharing a prefix stay distinct",
            repr([x and x[-20:] for x in ndirs]))
    c.check(os.path.isfile(mnt.p("L" * 255 + "/w")), "255-byte component kept whole")
    # bytes and xattr name for every tensor
    for t in m["tensors"]:
        p = find_path(mnt.path, t)
        try:
            c.check(read_all(p) == shard_slice(m, t), "tensor bytes", repr(t["name"][:40]))
            c.eq(os.getxattr(p, "user.tensorfs.name"), t["name"].encode(), "xattr name", repr(t["name"][:40]))
        except OSError as e:
            c.check(False, "tensor access", "%r: %s" % (t["name"][:40], e))
    # index.json: paths as the spec says (long ones by pattern)
    idx = json.loads(read_all(mnt.p(".tensorfs/index.json")))
    c.eq(idx.get("layout"), "safetensors", "index layout (folder with one file)")
    byk = {x.get("key"): x for x in idx.get("tensors", [])}
    c.eq(set(byk), {t["key"] for t in m["tensors"]}, "index keys (decoded from \\u escapes)")
    for t in m["tensors"]:
        got = byk.get(t["key"], {}).get("path", "")
        if t["path_hashed"]:
            c.check(hashed_path_re(t).match(got or "") is not None, "index path (long)", repr(got[:60]))
        else:
            c.eq(got, t["path"], "index path", repr(t["name"][:40]))
    # unknown names, and the raw (unescaped) spellings, are not there
    for bad in ("a/b/nope", "a/b/%", "a/b/%selfx", "%x", "a/b/self", "slash", "nope", "q/%self", "a/%self/x",
                "ctl\x01x", "ctl%1x"):
        c.errno_is(lambda: os.stat(mnt.p(bad)), {errno.ENOENT, errno.ENOTDIR}, "unknown name %r" % bad)
    c.errno_is(lambda: os.stat(mnt.p("L" * 300)), {errno.ENOENT, errno.ENAMETOOLONG}, "300-byte lookup")
    c.check(re.match(r"^[0-9a-f]{16}$", os.getxattr(mnt.p("a/b/%self"), "user.tensorfs.xxh3").decode())
            is not None, "xxh3 xattr format on %self")
c.done()
