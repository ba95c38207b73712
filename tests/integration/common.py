"""common.py - helpers shared by the Python integration tests (t_*.py): generate, mount, check, unmount.

Every test runs under /usr/bin/python3 with TENSORFS set to the binary under test and TFS_IT_TMP to a
fresh folder that run.sh removes afterwards. A Mount always unmounts: on normal exit, on an exception,
on SIGTERM/SIGINT (run.sh's timeout) through atexit and the context manager.
"""
import atexit
import ctypes
import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import gen_ckpt  # noqa: E402

TENSORFS = os.environ.get("TENSORFS") or os.path.join(REPO, "build", "tensorfs")
XATTRS = ["user.tensorfs.dtype", "user.tensorfs.shape", "user.tensorfs.shard", "user.tensorfs.offset",
          "user.tensorfs.xxh3", "user.tensorfs.name"]


# ---- reporting -----------------------------------------------------------------------------------

class Checker:
    """Counts failed checks; prints the first few of each kind so a failure is readable, not a flood."""

    def __init__(self, name):
        self.name = name
        self.failed = 0
        self.checked = 0
        self.per_kind = {}

    def check(self, cond, kind, detail=""):
        self.checked += 1
        if cond:
            return True
        self.failed += 1
        n = self.per_kind.get(kind, 0) + 1
        self.per_kind[kind] = n
        if n <= 5:
            print("FAIL %s: %s %s" % (self.name, kind, detail), flush=True)
        elif n == 6:
            print("FAIL %s: %s ... (more of this kind not shown)" % (self.name, kind), flush=True)
        return False

    def eq(self, got, want, kind, detail=""):
        return self.check(got == want, kind, "%s got=%r want=%r" % (detail, _short(got), _short(want)))

    def errno_is(self, fn, want, kind):
        """Runs fn(); checks it raises OSError with errno in `want` (an int or a set)."""
        wants = {want} if isinstance(want, int) else set(want)
        try:
            fn()
        except OSError as e:
            return self.check(e.errno in wants, kind, "errno=%s want=%s" % (
                errno.errorcode.get(e.errno, e.errno), "/".join(errno.errorcode[w] for w in wants)))
        return self.check(False, kind, "succeeded, want %s" % "/".join(errno.errorcode[w] for w in wants))

    def done(self):
        if self.failed:
            kinds = ", ".join("%s x%d" % kv for kv in sorted(self.per_kind.items()))
            print("%s: %d of %d checks failed (%s)" % (self.name, self.failed, self.checked, kinds))
            sys.exit(1)
        print("%s: %d checks ok" % (self.name, self.checked))
        sys.exit(0)


def _short(v):
    if isinstance(v, (bytes, str)) and len(v) > 80:
        return v[:80] + (b"..." if isinstance(v, bytes) else "...")
    return v


def log(*a):
    print(*a, flush=True)


# ---- temp dirs and checkpoints -------------------------------------------------------------------

def tmpdir(tag="t"):
    base = os.environ.get("TFS_IT_TMP")
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=tag + ".", dir=base)


def gen(mode, out, *args):
    """Writes a checkpoint with gen_ckpt.py (in-process) and returns its manifest."""
    return gen_ckpt.main([mode, out, "--quiet"] + [str(a) for a in args])


def ckpt_dir(m):
    """The folder holding the checkpoint's files (the file's folder for a single file)."""
    r = m["root"]
    return r if os.path.isdir(r) else os.path.dirname(r)


def shard_slice(m, t):
    with open(os.path.join(ckpt_dir(m), t["shard"]), "rb") as f:
        return os.pread(f.fileno(), t["length"], t["offset"]) if t["length"] else b""


_xxh = None


def xxh3(data):
    """XXH3-64 as 16 lowercase hex digits, from Debian's libxxhash (the python module is not needed)."""
    global _xxh
    if _xxh is None:
        try:
            import xxhash  # python3-xxhash, if present
            _xxh = lambda b: xxhash.xxh3_64_hexdigest(b)  # noqa: E731
        except ImportError:
            lib = ctypes.CDLL("libxxhash.so.0")
            fn = lib.XXH3_64bits
            fn.restype = ctypes.c_uint64
            fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
            _xxh = lambda b: "%016x" % fn(b, len(b))  # noqa: E731
        assert _xxh(b"") == "2d06800538d394c2" and _xxh(b"abc") == "78af5f94892f3950", "xxh3 reference"
    return _xxh(data)


# ---- mounts --------------------------------------------------------------------------------------

def mounted(mnt):
    """True when mnt is a mount point in /proc/self/mountinfo (works even if the daemon died)."""
    mnt = os.path.abspath(mnt)  # no realpath: a hung daemon would hang the lstat
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split()[4].encode().decode("unicode_escape")
            if p == mnt:
                return True
    return False


def daemon_pids(mnt, cwd=None):
    """Pids of processes whose argv names mnt as an argument (our mount daemons: mnt is unique).
    Relative arguments are taken relative to cwd (the folder the mount command ran in)."""
    mnt_r = os.path.abspath(mnt)
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if any(a and os.path.abspath(os.path.join(cwd or os.getcwd(), a.decode("utf-8", "replace"))) == mnt_r
               for a in args) and \
                any(b"mount" == a for a in args):
            pids.append(int(d))
    return pids


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(pred, timeout, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


_live_mounts = []


def force_unmount(mnt):
    if mounted(mnt):
        subprocess.run(["fusermount3", "-u", "-z", mnt], stderr=subprocess.DEVNULL)
    if mounted(mnt):
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)


class Mount:
    """`with Mount(ckpt, [opts]) as m:` mounts in daemon mode, yields self (m.path), always unmounts.
    As libfuse's own tests do, it fails the test on output nobody expected (any line the mount
    command prints that `stderr_ok`, a regex, does not match: warnings a test provokes) and on a
    daemon that does not exit by itself within 10 s of its unmount."""

    def __init__(self, ckpt, opts=(), mnt=None, timeout=30, cwd=None, mnt_arg=None, stderr_ok=None):
        self.ckpt = ckpt
        self.opts = list(opts)
        self.path = os.path.abspath(mnt or tmpdir("mnt"))
        self.mnt_arg = mnt_arg or self.path   # what to pass on the command line (may be relative to cwd)
        self.cwd = cwd
        self.timeout = timeout
        self.stderr_ok = stderr_ok
        self.stderr = ""
        self.killed = []
        self.pids = []

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        _live_mounts.append(self)
        cmd = [TENSORFS, "mount"] + self.opts + [self.ckpt, self.mnt_arg]
        t0 = time.time()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=self.timeout,
                           cwd=self.cwd)
        self.mount_s = time.time() - t0
        self.stderr = r.stderr.decode(errors="replace")
        if r.returncode != 0 or not mounted(self.path):
            self.close()
            raise RuntimeError("mount failed (rc=%d, mounted=%s): %s\nstderr: %s" % (
                r.returncode, mounted(self.path), " ".join(cmd), self.stderr))
        self.pids = daemon_pids(self.path, self.cwd)
        extra = [ln for ln in self.stderr.splitlines()
                 if ln.strip() and not (self.stderr_ok and re.search(self.stderr_ok, ln))]
        if extra:
            self.close()
            raise RuntimeError("unexpected output from %s:\n%s" % (" ".join(cmd), "\n".join(extra[:5])))
        return self

    def p(self, rel):
        return os.path.join(self.path, rel)

    def close(self):
        if not self.pids:
            self.pids = daemon_pids(self.path, self.cwd)
        if mounted(self.path):
            subprocess.run(["fusermount3", "-u", self.path], stderr=subprocess.DEVNULL)
            if not wait_for(lambda: not mounted(self.path), 5):
                force_unmount(self.path)
        # a daemon should exit by itself once unmounted; give it time, then stop it
        for pid in self.pids:
            if not wait_for(lambda: not pid_alive(pid), 10):
                self.killed.append(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.pids = []
        if self in _live_mounts:
            _live_mounts.remove(self)

    def __exit__(self, exc_type, *exc):
        self.close()
        if self.killed and exc_type is None:
            raise RuntimeError("daemon %s of %s still running 10 s after its unmount (killed)" % (
                self.killed, self.path))
        return False


def _cleanup_all():
    for m in list(_live_mounts):
        try:
            m.close()
        except Exception:  # noqa: BLE001 - best effort on the way out
            force_unmount(m.path)


def _on_signal(sig, frame):
    _cleanup_all()
    sys.exit(128 + sig)


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


# ---- reading the mount ---------------------------------------------------------------------------

def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def walk_files(root):
    """Set of every non-directory path under root, relative, '/'-separated (hidden ones included)."""
    out = set()
    for dp, dns, fns in os.walk(root):
        for fn in fns:
            out.add(os.path.relpath(os.path.join(dp, fn), root))
    return out


def expected_files(m):
    """(exact set of paths the mount must show, list of hashed-name tensors matched by pattern)."""
    want = {f["rel"] for f in m["files"]}
    hashed = []
    for t in m["tensors"]:
        if t["path_hashed"]:
            hashed.append(t)
        else:
            want.add(t["path"])
    return want, hashed


def hashed_path_re(t):
    """Regex a long-component tensor's mount path must match: cut prefix + %~ + 16 hex digits."""
    import re
    parts = []
    for c in t["path"].split("/"):
        if c.endswith("%~" + "?" * 16):
            parts.append(re.escape(c[:-18]) + "%~[0-9a-fA-F]{16}")
        else:
            parts.append(re.escape(c))
    return re.compile("^" + "/".join(parts) + "$")


def check_tree(c, mnt, m):
    """Walks the mount: exactly the manifest's files + tensors, plus .tensorfs/{index.json,stats,...}."""
    import re
    got = walk_files(mnt)
    virt = {p for p in got if p.startswith(".tensorfs/")}
    c.check(".tensorfs/index.json" in virt, "tree: .tensorfs/index.json missing")
    c.check(".tensorfs/stats" in virt, "tree: .tensorfs/stats missing")
    got -= virt
    want, hashed = expected_files(m)
    missing = sorted(want - got)
    extra = got - want
    for t in hashed:
        rx = hashed_path_re(t)
        hits = [p for p in extra if rx.match(p)]
        if c.check(len(hits) >= 1, "tree: long-name tensor missing", repr(t["path"][:60])):
            extra.discard(hits[0])
    c.check(not missing, "tree: missing paths", "%d missing, e.g. %r" % (len(missing), missing[:5]))
    c.check(not extra, "tree: unexpected paths", "%d extra, e.g. %r" % (len(extra), sorted(extra)[:5]))
    for h in m.get("hidden", []):
        c.check(not os.path.lexists(os.path.join(mnt, h)), "tree: dot-file shown", h)
    for dp, dns, fns in os.walk(mnt):
        for n in dns + fns:
            c.check(len(n.encode("utf-8", "surrogateescape")) <= 255 and "/" not in n and n not in (".", ".."),
                    "tree: bad name", repr(n))
    return got


def find_path(mnt, t):
    """The mount path of tensor t (resolving the hashed long-name form by listing its folder)."""
    if not t["path_hashed"]:
        return os.path.join(mnt, t["path"])
    rx = hashed_path_re(t)
    for dp, dns, fns in os.walk(mnt):
        for fn in fns:
            rel = os.path.relpath(os.path.join(dp, fn), mnt)
            if rx.match(rel):
                return os.path.join(mnt, rel)
    return os.path.join(mnt, t["path"])
