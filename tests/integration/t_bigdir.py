"""Scale of the tree: one folder with 5000 entries (readdir must page through several calls without
losing or repeating an entry, also when read in small chunks via getdents), and 1500 tensor files
held open at once and read interleaved."""
import ctypes
import json
import os
import random
import resource
import struct

from common import Checker, Mount, read_all, tmpdir

c = Checker("t_bigdir")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < 4096 and (hard == resource.RLIM_INFINITY or hard >= 4096):
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
NOPEN = min(1500, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100)
d = tmpdir("ck")
path = os.path.join(d, "experts.safetensors")
N = 5000
rnd = random.Random(3)
hdr = {"__metadata__": {"format": "pt"}}
blobs = []
off = 0
for i in range(N):
    n = 1 + (i * 7919) % 97
    hdr["moe.experts.%d.w" % i] = {"dtype": "U8", "shape": [n], "data_offsets": [off, off + n]}
    blobs.append(bytes(rnd.getrandbits(8) for _ in range(n)))
    off += n
hj = json.dumps(hdr).encode()
hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


def getdents_names(p, bufsize):
    """Lists a directory with raw getdents64 and a small buffer: many readdir calls, offsets honoured."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
    buf = ctypes.create_string_buffer(bufsize)
    names = []
    try:
        while True:
            n = libc.syscall(217, fd, buf, bufsize)  # SYS_getdents64 on x86_64
            if n < 0:
                raise OSError(ctypes.get_errno(), "getdents64")
            if n == 0:
                return names
            pos = 0
            raw = buf.raw
            while pos < n:
                reclen = struct.unpack_from("<H", raw, pos + 16)[0]
                name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0].decode()
                names.append(name)
                pos += reclen
    finally:
        os.close(fd)


with Mount(path, ["--strategy", "lazy"]) as mnt:
    want = {str(i) for i in range(N)}
    got = os.listdir(mnt.p("moe/experts"))
    c.eq(len(got), N, "listdir count")
    c.check(set(got) == want, "listdir names", "missing %r extra %r" % (sorted(want - set(got))[:5],
                                                                         sorted(set(got) - want)[:5]))
    if os.uname().machine == "x86_64":
        small = getdents_names(mnt.p("moe/experts"), 1024)
        small = [x for x in small if x not in (".", "..")]
        c.eq(len(small), N, "getdents64 (1 KiB buffer) count, no repeats")
        c.check(set(small) == want, "getdents64 (1 KiB buffer) names")
    # NOPEN (1500) files open at once, read in a shuffled order, then closed
    idx = rnd.sample(range(N), NOPEN)
    fds = []
    try:
        for i in idx:
            fds.append((i, os.open(mnt.p("moe/experts/%d/w" % i), os.O_RDONLY)))
        c.check(True, "%d open" % NOPEN)
        rnd.shuffle(fds)
        for i, fd in fds:
            c.check(os.pread(fd, 200, 0) == blobs[i], "read while %d are open" % NOPEN, str(i))
    except OSError as e:
        c.check(False, "1500 open files", "after %d: %s" % (len(fds), e))
    finally:
        for _, fd in fds:
            os.close(fd)
    c.check(read_all(mnt.p("moe/experts/4999/w")) == blobs[4999], "last expert")
    st = json.loads(read_all(mnt.p(".tensorfs/stats")))
    c.check(st["opens"] >= NOPEN, "opens >= %d" % NOPEN, str(st["opens"]))
c.done()
