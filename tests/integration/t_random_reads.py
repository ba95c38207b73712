"""Random pread()s on tensor files vs the shard slice: any offset and length, reads crossing the end
are short, reads at/past the end return nothing. Once on a default mount, once lazy with a tiny
block cache (64 KiB blocks, 1 MiB budget) from 4 threads at once so blocks are shared and evicted."""
import os
import random
import threading

from common import Checker, Mount, ckpt_dir, gen, tmpdir

c = Checker("t_random_reads")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 220, "--shards", 3, "--seed", 21, "--size-mb", 8)
tensors = [t for t in m["tensors"]]
shard_fd = {s: os.open(os.path.join(ckpt_dir(m), s), os.O_RDONLY) for s in {t["shard"] for t in tensors}}
lock = threading.Lock()


def one_round(mnt, seed, n):
    rnd = random.Random(seed)
    fds = {}
    try:
        for i in range(n):
            t = rnd.choice(tensors) if rnd.random() < 0.7 else tensors[0]  # tensors[0] spans many blocks
            L = t["length"]
            r = rnd.random()
            if r < 0.15 and L:                                   # crossing the end
                off = rnd.randrange(0, L)
                ln = L - off + rnd.randrange(1, 5000)
            elif r < 0.2:                                        # at or past the end
                off = L + rnd.choice([0, 0, 1, 4096, 1 << 30])
                ln = rnd.randrange(1, 9000)
            elif r < 0.3:                                        # whole tensor and more
                off, ln = 0, L + 4096
            else:
                off = rnd.randrange(0, max(L, 1))
                ln = rnd.choice([1, 2, 3, 7, 8, 512, 4095, 4096, 4097, 65535, 65536, 65537, 131072,
                                 rnd.randrange(1, 300000)])
            if t["path"] not in fds:
                if len(fds) > 64:
                    for fd in fds.values():
                        os.close(fd)
                    fds.clear()
                fds[t["path"]] = os.open(mnt.p(t["path"]), os.O_RDONLY)
            fd = fds[t["path"]]
            got = os.pread(fd, ln, off)
            want_len = max(0, min(ln, L - off))
            want = os.pread(shard_fd[t["shard"]], want_len, t["offset"] + off) if want_len else b""
            if got != want:
                first = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
                             min(len(got), len(want)))
                detail = "%s off=%d len=%d: got %d bytes, want %d, first difference at +%d (tensor byte %d)" % (
                    t["path"], off, ln, len(got), len(want), first, off + first)
            else:
                detail = ""
            with lock:
                c.check(got == want, "pread", detail)
            if i % 97 == 0:  # drop this file's page cache so the daemon serves it again
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError as e:
        with lock:
            c.check(False, "pread raised", str(e))
    finally:
        for fd in fds.values():
            os.close(fd)


with Mount(ck) as mnt:
    one_round(mnt, 1, 1000)

with Mount(ck, ["--strategy", "lazy", "--block-size", "65536", "--cache-size", "1048576", "--readahead", "262144",
                "--threads", "2"]) as mnt:
    ths = [threading.Thread(target=one_round, args=(mnt, 100 + k, 500)) for k in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
c.done()
