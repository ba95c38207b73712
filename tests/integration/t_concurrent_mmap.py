"""Concurrency that loaders really use (issue 10, "Also"): 8 processes reading different tensors
and 8 processes mmap-faulting the shard files through the mount, all at once -- what transformers'
parallel loader and vLLM's prefetch do, and where FUSE mounts of other projects deadlock. Every
byte is checked against the manifest; all 16 must finish within 60 s (a deadlock fails the test
instead of hanging it). Twice: the default mount, and a tiny lazy cache that keeps evicting."""
import hashlib
import mmap
import multiprocessing as mp
import os
import queue
import time

from common import Checker, Mount, gen, tmpdir

c = Checker("t_concurrent_mmap")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 96, "--shards", 4, "--seed", 13, "--size-mb", 24)
tensors = [t for t in m["tensors"] if t["length"] > 0]
shards = sorted({t["shard"] for t in tensors})


def reader(mnt, k, q):
    """Reads every 8th tensor (from k) through its tensor file, twice, in 1 MiB reads."""
    bad = []
    for _ in range(2):
        for t in tensors[k::8]:
            h = hashlib.sha256()
            with open(os.path.join(mnt, t["path"]), "rb", buffering=0) as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
            if h.hexdigest() != t["sha256"]:
                bad.append(t["path"])
    q.put(("reader", k, bad))


def faulter(mnt, k, q):
    """Maps one shard file of the mount and checks the bytes of its tensors through page faults,
    walking them from a different place in each process."""
    bad = []
    shard = shards[k % len(shards)]
    mine = [t for t in tensors if t["shard"] == shard]
    mine = mine[k % len(mine):] + mine[:k % len(mine)]
    with open(os.path.join(mnt, shard), "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        for t in mine:
            if hashlib.sha256(mm[t["offset"]:t["offset"] + t["length"]]).hexdigest() != t["sha256"]:
                bad.append(t["path"])
        mm.close()
    q.put(("faulter", k, bad))


def guarded(fn, mnt, k, q):
    """Runs a worker; an exception (EIO, SIGBUS is not one) is reported as a failure, not lost."""
    try:
        fn(mnt, k, q)
    except Exception as e:  # noqa: BLE001
        q.put((fn.__name__, k, ["%s: %s" % (type(e).__name__, e)]))


def run(opts, tag):
    with Mount(ck, opts) as mo:
        mnt = mo.path
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        procs = [ctx.Process(target=guarded, args=(reader, mnt, k, q)) for k in range(8)]
        procs += [ctx.Process(target=guarded, args=(faulter, mnt, k, q)) for k in range(8)]
        for p in procs:
            p.start()
        results = []
        deadline = time.time() + 60
        while len(results) < len(procs) and time.time() < deadline:
            try:
                results.append(q.get(timeout=max(0.1, deadline - time.time())))
            except queue.Empty:
                break
        c.eq(len(results), len(procs), "%s: all 16 finished within 60 s (no deadlock)" % tag)
        for kind, k, bad in results:
            c.eq(bad, [], "%s: %s %d: every byte exact" % (tag, kind, k))
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
        print("%s: %d readers and %d mmap faulters done" % (
            tag, sum(r[0] == "reader" for r in results), sum(r[0] == "faulter" for r in results)))


run([], "default")
run(["--strategy", "lazy", "--block-size", "65536", "--cache-size", "2097152"], "tiny cache")
c.done()
