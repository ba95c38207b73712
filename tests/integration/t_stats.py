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
    for k in ("bytes_from_disk", "reads", "opens"):
        c.check(isinstance(s0.get(k), int), "stats has integer " + k, repr(s0)[:300])

    # lazy: nothing read before anyone asks (opening the mount parses headers only)
    tensor_bytes = sum(t["length"] for t in m["tensors"])
    c.check(s0.get("bytes_from_disk", 0) < tensor_bytes // 2, "lazy: no bulk read at mount",
            "bytes_from_disk=%r of %d" % (s0.get("bytes_from_disk"), tensor_bytes))

    # read a few tensors never read before (largest ones: not all in one block)
    big = sorted((t for t in m["tensors"] if t["length"] >= 4096), key=lambda t: -t["length"])[:5]
    for t in big:
        c.check(read_all(mnt.p(t["path"])) == shard_slice(m, t), "bytes", t["path"])
    s1 = stats()
    want = sum(t["length"] for t in big)
    c.check(s1.get("reads", 0) > s0.get("reads", 0), "reads grew", "%r -> %r" % (s0.get("reads"), s1.get("reads")))
    c.check(s1.get("bytes_from_disk", 0) - s0.get("bytes_from_disk", 0) >= want, "bytes_from_disk grew",
            "%r -> %r, read %d bytes" % (s0.get("bytes_from_disk"), s1.get("bytes_from_disk"), want))
    if "bytes_served" in s1:
        c.check(s1["bytes_served"] - s0.get("bytes_served", 0) >= want, "bytes_served grew")

    # opens: N opens of tensor files -> opens grows by N (the stats file's own open may count too)
    N = 7
    t = m["tensors"][3]
    o0 = stats().get("opens", 0)
    for _ in range(N):
        fd = os.open(mnt.p(t["path"]), os.O_RDONLY)
        os.close(fd)
    o1 = stats().get("opens", 0)
    c.check(N <= o1 - o0 <= N + 2, "opens counts opens", "%d -> %d after %d opens" % (o0, o1, N))

    # a second pass over the same tensors: reads still counted when the daemon is asked again
    for t in big:
        with open(mnt.p(t["path"]), "rb") as f:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            f.read()
    s2 = stats()
    c.check(s2.get("reads", 0) > s1.get("reads", 0), "reads grow on re-read", "%r -> %r" % (
        s1.get("reads"), s2.get("reads")))
    c.check(s2.get("bytes_from_disk", 0) >= s1.get("bytes_from_disk", 0), "bytes_from_disk monotonic")
c.done()
