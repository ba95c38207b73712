"""The tensorfs binary and a mount context manager, shared by the Python tests that mount."""
import gc
import os
import shutil
import subprocess
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# $TENSORFS, else the build folder that holds $TENSORFS_LIB (tests/python/run.sh sets it).
TENSORFS = os.environ.get("TENSORFS", os.path.join(
    os.path.dirname(os.path.dirname(os.environ.get("TENSORFS_LIB", os.path.join(
        ROOT, "build", "libtensorfs.so")))), "build", "tensorfs"))
if not os.path.exists(TENSORFS):
    TENSORFS = os.path.join(os.path.dirname(os.environ.get("TENSORFS_LIB", "")), "tensorfs")


def fuse_usable():
    return (os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None
            and os.path.exists(TENSORFS))


class Mount:
    """`tensorfs mount [OPTS] SRC MNT` for the duration of a with-block. Anything the mount command
    prints fails the test (tests/integration/README.md: output nobody expected)."""

    def __init__(self, src, mnt, opts=()):
        self.src, self.mnt, self.opts = src, mnt, list(opts)

    def __enter__(self):
        os.makedirs(self.mnt, exist_ok=True)
        r = subprocess.run([TENSORFS, "mount"] + self.opts + [self.src, self.mnt],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("tensorfs mount %s %s failed: %s" % (self.src, self.mnt, r.stderr))
        for _ in range(100):
            if os.path.ismount(self.mnt):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("%s: not mounted" % self.mnt)
        if r.stderr.strip():
            self.__exit__(None, None, None)
            raise RuntimeError("tensorfs mount %s %s: unexpected output: %s" % (self.src, self.mnt, r.stderr))
        return self.mnt

    def __exit__(self, *exc):
        gc.collect()    # tensors mmapped from the mount keep it busy
        for _ in range(50):
            if subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
            gc.collect()
        # still busy: detach it (the daemon exits when the last user is gone), then say so
        subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True)
        if exc[0] is None:
            raise AssertionError("%s: busy at unmount, detached lazily" % self.mnt)
