""".tensorfs/stats is live JSON: "reads" and "bytes_from_disk" grow after reading tensors not read
before, "opens" counts opens of tensor files; each read of it is fresh (never a stale page cache)."""
import json
import os

from common import Checker, Mount, gen, read_all, shard_slice, tmpdir

c = Checker("t_stats")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 120, "--shards", 3, "--seed", 101, "--size-mb", 4)

with Mount(ck, ["--strategy", "lazy"]) as mnt:
    sp = mnt.p(".tensorfs/stats")

    def stats():
        raw = read_all(sp)
        try:
            return json.loads(raw)
        except ValueError as e:
            c.check(False, "stats is JSON", "%s: %r" % (e, raw[:200]))
            return {}

    s0 = stats()
    # Every documented counter, by name: a renamed or dropped field fails here, not silently later.
    for k in ("opens", "tensors", "tensor_bytes", "reads", "bytes_served", "bytes_from_disk",
              "cache_hits", "cache_misses", "bytes_prefetched", "bytes_prefetched_unused",
              "evictions", "cache_bytes", "cache_peak_bytes", "cache_budget", "block_size",
              "readahead_bytes", "threads", "warm_done_bytes", "warm_total_bytes", "errors",
              "bytes_hot"):
        c.check(isinstance(s0.get(k), int), "stats has integer " + k, repr(s0)[:300])
    for k in ("pinning", "strategy", "strategy_reason"):
        c.check(isinstance(s0.get(k), str), "stats has string " + k, repr(s0)[:300])

    # lazy: nothing read before anyone asks (opening the mount parses headers only)
    tensor_bytes = sum(t["length"] for t in m["tensors"])
    c.check(s0["bytes_from_disk"] < tensor_bytes // 2, "lazy: no bulk read at mount",
            "bytes_from_disk=%r of %d" % (s0["bytes_from_disk"], tensor_bytes))

    # read a few tensors never read before (largest ones: not all in one block)
    big = sorted((t for t in m["tensors"] if t["length"] >= 4096), key=lambda t: -t["length"])[:5]
    for t in big:
        c.check(read_all(mnt.p(t["path"])) == shard_slice(m, t), "bytes", t["path"])
    s1 = stats()
    want = sum(t["length"] for t in big)
    c.check(s1["reads"] > s0["reads"], "reads grew", "%r -> %r" % (s0["reads"], s1["reads"]))
    c.check(s1["bytes_from_disk"] - s0["bytes_from_disk"] >= want, "bytes_from_disk grew",
            "%r -> %r, read %d bytes" % (s0["bytes_from_disk"], s1["bytes_from_disk"], want))
    c.check(s1["bytes_served"] - s0["bytes_served"] >= want, "bytes_served grew")

    # opens: N opens of tensor files -> opens grows by N (the stats file's own open may count too)
    N = 7
    t = m["tensors"][3]
    o0 = stats()["opens"]
    for _ in range(N):
        fd = os.open(mnt.p(t["path"]), os.O_RDONLY)
        os.close(fd)
    o1 = stats()["opens"]
    c.check(N <= o1 - o0 <= N + 2, "opens counts opens", "%d -> %d after %d opens" % (o0, o1, N))

    # a second pass over the same tensors: reads still counted when the daemon is asked again
    for t in big:
        with open(mnt.p(t["path"]), "rb") as f:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            f.read()
    s2 = stats()
    c.check(s2["reads"] > s1["reads"], "reads grow on re-read", "%r -> %r" % (
        s1["reads"], s2["reads"]))
    c.check(s2["bytes_from_disk"] >= s1["bytes_from_disk"], "bytes_from_disk monotonic")
c.done()
