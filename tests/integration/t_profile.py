"""Learned warm-up order: a mount records the order in which tensors are first read (--profile-dir),
and the next mount's eager warm-up follows it. With a budget that holds only the first K tensors
read last time, those K are all cache hits on the second mount (a warm-up in file order would have
warmed other tensors). A changed checkpoint's profile is ignored, never trusted."""
import json
import os
import random
import time

from common import Checker, Mount, gen, read_all, shard_slice, tmpdir, wait_for

BS = 262144
c = Checker("t_profile")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
pdir = os.path.join(d, "profiles")
m = gen("sharded", ck, "--tensors", 60, "--shards", 2, "--seed", 5, "--size-mb", 24)
tensors = [t for t in m["tensors"] if t["length"] > 0]
order = tensors[:]
random.Random(11).shuffle(order)  # the consumer's own "execution" order, not the file order
K = 12


def stats(mnt):
    return json.loads(read_all(mnt.p(".tensorfs/stats")))


def evict():
    """Drops the shards from the page cache, so the warm-up has to read them (it skips what RAM
    holds)."""
    for rel in sorted({t["shard"] for t in m["tensors"]}):
        fd = os.open(os.path.join(ck, rel), os.O_RDONLY)
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def blocks(t):
    return {(t["shard"], b) for b in range(t["offset"] // BS, (t["offset"] + t["length"] - 1) // BS + 1)}


opts = ["--profile-dir", pdir, "--block-size", str(BS)]
with Mount(ck, opts) as mnt:
    c.check(stats(mnt).get("profile", "").startswith("none yet"), "first mount: no profile yet",
            stats(mnt).get("profile"))
    for t in order:
        c.check(read_all(mnt.p(t["path"])) == shard_slice(m, t), "bytes", t["path"])
files = os.listdir(pdir) if os.path.isdir(pdir) else []
c.eq(len(files), 1, "one profile written at unmount")

# Budget = exactly the blocks of the first K tensors read: only a warm-up in the learned order
# has all of them resident when it stops.
first_k = set()
for t in order[:K]:
    first_k |= blocks(t)
budget = len(first_k) * BS
sizes = {rel: os.path.getsize(os.path.join(ck, rel)) for rel, _ in first_k}
warm_bytes = sum(min(BS, sizes[rel] - b * BS) for rel, b in first_k)
evict()
with Mount(ck, opts + ["--strategy", "eager", "--cache-size", str(budget)]) as mnt:
    st = stats(mnt)
    c.check(st.get("profile", "").startswith("loaded "), "second mount loads the profile", st.get("profile"))
    # The warm-up fills the budget, then waits to follow the reader: wait for the fill.
    c.check(wait_for(lambda: stats(mnt)["warm_done_bytes"] >= warm_bytes, 30),
            "warm-up fills the budget", repr(stats(mnt)))
    time.sleep(0.2)
    s0 = stats(mnt)
    for t in order[:K]:
        c.check(read_all(mnt.p(t["path"])) == shard_slice(m, t), "bytes (second mount)", t["path"])
    s1 = stats(mnt)
    c.eq(s1["cache_misses"] - s0["cache_misses"], 0, "the first K tensors of the learned order are all hits")
    c.check(s1["cache_hits"] > s0["cache_hits"], "hits counted", repr(s1)[:300])

# auto with a learned order waits for the first read: a reader that starts where the order begins
# gets the warm-up; another reader (starting elsewhere) gets none and leaves the profile alone.
head, seen = [], set()
for t in order:
    for b in sorted(blocks(t)):
        if b not in seen:
            seen.add(b)
            head.append(b)
head = set(head[:24])  # warm.c GATE_HEAD
other = next(t for t in order if min(blocks(t)) not in head and len(blocks(t)) <= 2)
prof = os.path.join(pdir, files[0]) if files else ""
before = read_all(prof) if prof else b""
evict()
with Mount(ck, opts) as mnt:
    time.sleep(0.3)
    st = stats(mnt)
    c.check("from the first read that follows it" in st.get("strategy_reason", ""), "auto: waits for a reader",
            st.get("strategy_reason"))
    c.eq(st.get("bytes_from_disk"), 0, "auto: nothing warmed before the first read")
    c.check(read_all(mnt.p(other["path"])) == shard_slice(m, other), "bytes (other reader)", other["path"])
    time.sleep(0.3)
    st = stats(mnt)
    c.eq(st.get("strategy"), "streaming", "auto: another reader gets no warm-up", st.get("strategy_reason"))
    c.check(st.get("bytes_from_disk", 1 << 40) <= len(blocks(other)) * BS, "auto: only the other reader's blocks read",
            repr(st)[:300])
c.check(prof and read_all(prof) == before, "another reader leaves the learned order alone")
evict()
with Mount(ck, opts) as mnt:
    for t in order[:5]:  # warm.c GATE_READS distinct blocks near the head open the gate
        c.check(read_all(mnt.p(t["path"])) == shard_slice(m, t), "bytes (repeat reader)", t["path"])
    c.check(wait_for(lambda: stats(mnt)["warm_done_bytes"] > 0, 10), "auto: the repeat reader gets the warm-up",
            repr(stats(mnt))[:300])
    c.eq(stats(mnt).get("strategy"), "eager", "auto: eager for the repeat reader")

# A changed checkpoint (a shard rewritten: new mtime) makes the profile stale: ignored, not used.
shard0 = os.path.join(ck, tensors[0]["shard"])
os.utime(shard0, ns=(time.time_ns(), time.time_ns()))
with Mount(ck, opts) as mnt:
    p = stats(mnt).get("profile", "")
    c.check(p.startswith("ignored: checkpoint changed"), "stale profile ignored", p)
with Mount(ck, ["--profile-dir", "off"]) as mnt:
    c.eq(stats(mnt).get("profile"), "off", "--profile-dir off")
c.done()
