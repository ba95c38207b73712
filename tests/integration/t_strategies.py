"""Every --strategy (lazy, eager, streaming, auto) serves the same bytes: all tensors read whole by 3
threads at once, in shard order (the sequential pattern that triggers readahead), with a cache far
smaller than the checkpoint so blocks are evicted while being streamed; stats report the strategy."""
import json
import os
import threading

from common import Checker, Mount, gen, read_all, shard_slice, tmpdir

c = Checker("t_strategies")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 150, "--shards", 3, "--seed", 141, "--size-mb", 12)
order = sorted(m["tensors"], key=lambda t: (t["shard"], t["offset"]))
want = {t["key"]: shard_slice(m, t) for t in order}
lock = threading.Lock()

for strat in ("lazy", "eager", "streaming", "auto"):
    opts = ["--strategy", strat, "--cache-size", "4194304", "--block-size", "262144", "--readahead", "1048576"]
    with Mount(ck, opts) as mnt:
        def worker(k):
            for t in order[k::3] if k else order:
                try:
                    ok = read_all(mnt.p(t["path"])) == want[t["key"]]
                except OSError as e:
                    ok = False
                with lock:
                    c.check(ok, strat + ": bytes", t["path"])
        ths = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        st = json.loads(read_all(mnt.p(".tensorfs/stats")))
        if strat != "auto":
            c.eq(st["strategy"], strat, "stats strategy")
        c.check(st["cache_bytes"] <= st["cache_budget"], strat + ": cache within budget", repr(st)[:300])
        c.eq(st["errors"], 0, strat + ": no read errors")
c.done()
