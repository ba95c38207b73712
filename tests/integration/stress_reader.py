#!/usr/bin/python3
"""stress_reader.py - random reads of a mounted checkpoint, every byte checked against the shard.

Usage: stress_reader.py MANIFEST CKPT MNT SECONDS THREADS SEED [--until-error]
Each thread loops until SECONDS pass: picks a tensor, a random range of it (sometimes all of it),
opens the tensor file on the mount, preads the range and compares it with the same bytes read from
the shard file directly. Half the threads open with O_DIRECT and the others drop the range from
the page cache afterwards (POSIX_FADV_DONTNEED), so reads keep reaching the daemon rather than
the kernel's page cache. Prints one JSON line: reads, bytes, mismatches, errors, seconds.
--until-error: stop at the first error instead (for unmount-while-reading); exit 0 if an error was
seen and no byte was wrong. A short read whose bytes are an exact prefix counts as an error there
(the kernel returns what it got before the connection went away).
Exit status: 0 when no mismatch (and, with --until-error, an error seen), 1 otherwise.
"""
import errno
import json
import os
import random
import sys
import threading
import time


def main():
    mf, ck, mnt, secs, nthreads, seed = sys.argv[1:7]
    until_error = "--until-error" in sys.argv
    secs, nthreads, seed = float(secs), int(nthreads), int(seed)
    tensors = [t for t in json.load(open(mf))["tensors"] if t["length"] > 0]
    shard_fds = {}
    for t in tensors:
        if t["shard"] not in shard_fds:
            shard_fds[t["shard"]] = os.open(os.path.join(ck, t["shard"]), os.O_RDONLY)
    lock = threading.Lock()
    tot = {"reads": 0, "bytes": 0, "mismatches": 0, "errors": 0, "first_error": None, "mismatch_at": []}
    stop = threading.Event()
    t_end = time.monotonic() + secs

    def worker(i):
        rng = random.Random(seed * 1000 + i)
        direct = i % 2 == 0
        reads = nbytes = bad = 0
        while not stop.is_set() and time.monotonic() < t_end:
            t = rng.choice(tensors)
            n = t["length"]
            if rng.random() < 0.2:
                off, ln = 0, n
            else:
                off = rng.randrange(n)
                ln = rng.randint(1, min(n - off, 3 << 20))
            if direct:  # O_DIRECT wants aligned offsets and lengths on some kernels
                off &= ~4095
                ln = max(4096, (ln + 4095) & ~4095)
            path = os.path.join(mnt, t["path"])
            try:
                fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
            except OSError as e:
                if e.errno == errno.EINVAL and direct:
                    direct = False
                    continue
                with lock:
                    tot["errors"] += 1
                    tot["first_error"] = tot["first_error"] or "%s: %s" % (t["path"], e.strerror)
                if until_error:
                    break
                continue
            try:
                if direct:
                    import mmap
                    buf = mmap.mmap(-1, ln)
                    got = os.preadv(fd, [buf], off)
                    data = bytes(buf[:got])
                    buf.close()
                else:
                    data = os.pread(fd, ln, off)
                    os.posix_fadvise(fd, off, ln, os.POSIX_FADV_DONTNEED)
            except OSError as e:
                os.close(fd)
                with lock:
                    tot["errors"] += 1
                    tot["first_error"] = tot["first_error"] or "%s: %s" % (t["path"], e.strerror)
                if until_error:
                    break
                continue
            os.close(fd)
            want = os.pread(shard_fds[t["shard"]], min(ln, n - off), t["offset"] + off)
            reads += 1
            nbytes += len(data)
            if data != want:
                if until_error and len(data) < len(want) and data == want[:len(data)]:
                    # a read cut short by the unmount: the bytes it did return are exact
                    with lock:
                        tot["errors"] += 1
                        tot["short"] = tot.get("short", 0) + 1
                    break
                bad += 1
                with lock:
                    tot["mismatch_at"].append([t["path"], off, ln, len(data), len(want)])
        with lock:
            tot["reads"] += reads
            tot["bytes"] += nbytes
            tot["mismatches"] += bad

    t0 = time.monotonic()
    th = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    tot["seconds"] = round(time.monotonic() - t0, 2)
    tot["mismatch_at"] = tot["mismatch_at"][:5]
    print(json.dumps(tot), flush=True)
    if tot["mismatches"]:
        return 1
    if until_error and not tot["errors"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
