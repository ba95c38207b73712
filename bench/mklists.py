#!/usr/bin/python3
"""mklists.py - turns a mount's .tensorfs/index.json into the read lists bench/run.sh feeds preadcat.

  mklists.py INDEX_JSON CKPT_ROOT MNT OUTDIR [--seed N] [--every 10]

Writes, in OUTDIR, pairs of lists with the same ranges in the same order, one through the mount
(MNT/path, offset 0) and one direct on the shards (CKPT_ROOT/file, absolute offset):
  seq.mnt  seq.dir    every tensor in index order (the catalog's on-disk order)
  rand.mnt rand.dir   every tensor in a seeded random order
  sel.mnt  sel.dir    one tensor in EVERY (index i % EVERY == EVERY // 2, so not the first tensor,
                      which test checkpoints often make huge), in index order
  rand.mshard         rand.dir's ranges on the shard files as the mount shows them (MNT/file):
                      the shard files read (or mmapped) through the mount in the shuffled order
  shards.lst          each shard once, whole file (0, size), in order of first use
  shards.mnt          the same shard files through the mount
and prints shell assignments: N_TENSORS, TENSOR_BYTES, N_SEL, SEL_BYTES, N_SHARDS, SHARD_BYTES.
Lines are OFFSET<TAB>LENGTH<TAB>PATH (see preadcat.c).
"""
import argparse
import json
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("index")
    ap.add_argument("root")
    ap.add_argument("mnt")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", type=int, default=10)
    a = ap.parse_args()

    with open(a.index, encoding="utf-8") as f:
        idx = json.load(f)
    tensors = idx["tensors"]
    for t in tensors:
        if "\n" in t["path"] or "\t" in t["path"] or "\n" in t["file"]:
            raise SystemExit("mklists: a tensor path holds a tab or newline: %r" % t["path"])

    def mnt_line(t):
        return "0\t%d\t%s\n" % (t["length"], os.path.join(a.mnt, t["path"]))

    def dir_line(t):
        return "%d\t%d\t%s\n" % (t["offset"], t["length"], os.path.join(a.root, t["file"]))

    def write(name, ts):
        with open(os.path.join(a.outdir, name + ".mnt"), "w", encoding="utf-8") as f:
            f.writelines(mnt_line(t) for t in ts)
        with open(os.path.join(a.outdir, name + ".dir"), "w", encoding="utf-8") as f:
            f.writelines(dir_line(t) for t in ts)

    write("seq", tensors)
    rnd = list(tensors)
    random.Random(a.seed).shuffle(rnd)
    write("rand", rnd)
    with open(os.path.join(a.outdir, "rand.mshard"), "w", encoding="utf-8") as f:
        f.writelines("%d\t%d\t%s\n" % (t["offset"], t["length"], os.path.join(a.mnt, t["file"]))
                     for t in rnd)
    sel = [t for i, t in enumerate(tensors) if i % a.every == a.every // 2]
    write("sel", sel)

    shards = []
    for t in tensors:
        if t["file"] not in shards:
            shards.append(t["file"])
    sizes = {f["rel"]: f["size"] for f in idx.get("files", [])}
    for name, top in (("shards.lst", a.root), ("shards.mnt", a.mnt)):
        with open(os.path.join(a.outdir, name), "w", encoding="utf-8") as f:
            for s in shards:
                size = sizes.get(s, os.path.getsize(os.path.join(a.root, s)))
                f.write("0\t%d\t%s\n" % (size, os.path.join(top, s)))

    print("N_TENSORS=%d" % len(tensors))
    print("TENSOR_BYTES=%d" % sum(t["length"] for t in tensors))
    print("N_SEL=%d" % len(sel))
    print("SEL_BYTES=%d" % sum(t["length"] for t in sel))
    print("N_SHARDS=%d" % len(shards))
    print("SHARD_BYTES=%d" % sum(os.path.getsize(os.path.join(a.root, s)) for s in shards))


if __name__ == "__main__":
    main()
