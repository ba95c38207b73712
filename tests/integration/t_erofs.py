"""Read-only everywhere: write/create/mkdir/unlink/rmdir/rename/chmod/chown/truncate/utime/symlink/link
give EROFS on tensors, dirs, passthrough files, .tensorfs files and the root; the shell tools fail
with "Read-only file system"; unknown names give ENOENT; nothing changed afterwards."""
import errno
import os
import subprocess

from common import Checker, Mount, gen, read_all, shard_slice, tmpdir

c = Checker("t_erofs")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 60, "--shards", 3, "--seed", 81, "--size-mb", 1)
t = m["tensors"][1]
EROFS = errno.EROFS

with Mount(ck) as mnt:
    tp = mnt.p(t["path"])
    tdir = os.path.dirname(tp)
    targets = {"tensor": tp, "file": mnt.p("config.json"), "index": mnt.p(".tensorfs/index.json"),
               "stats": mnt.p(".tensorfs/stats"), "shard": mnt.p(m["tensors"][0]["shard"])}
    dirs = {"dir": tdir, "root": mnt.path, "vdir": mnt.p(".tensorfs")}
    for what, p in targets.items():
        c.errno_is(lambda: os.open(p, os.O_WRONLY), EROFS, "open O_WRONLY " + what)
        c.errno_is(lambda: os.open(p, os.O_RDWR), EROFS, "open O_RDWR " + what)
        c.errno_is(lambda: os.open(p, os.O_WRONLY | os.O_APPEND), EROFS, "open O_APPEND " + what)
        c.errno_is(lambda: os.open(p, os.O_RDONLY | os.O_TRUNC), {EROFS, errno.EACCES, errno.EPERM},
                   "open O_TRUNC " + what)
        c.errno_is(lambda: os.unlink(p), EROFS, "unlink " + what)
        c.errno_is(lambda: os.rename(p, p + ".x"), EROFS, "rename " + what)
        c.errno_is(lambda: os.chmod(p, 0o644), EROFS, "chmod " + what)
        c.errno_is(lambda: os.chown(p, 1, 1), EROFS, "chown " + what)
        c.errno_is(lambda: os.truncate(p, 0), EROFS, "truncate " + what)
        c.errno_is(lambda: os.utime(p, (1, 1)), EROFS, "utime " + what)
        c.errno_is(lambda: os.link(p, os.path.join(tdir, "hard")), EROFS, "link " + what)
        c.errno_is(lambda: os.setxattr(p, "user.x", b"1"), {EROFS, errno.ENOTSUP, errno.EPERM},
                   "setxattr " + what)
        c.errno_is(lambda: os.removexattr(p, "user.tensorfs.dtype"), {EROFS, errno.ENOTSUP, errno.EPERM},
                   "removexattr " + what)
    for what, p in dirs.items():
        c.errno_is(lambda: os.open(os.path.join(p, "new"), os.O_WRONLY | os.O_CREAT, 0o644), EROFS,
                   "create in " + what)
        c.errno_is(lambda: os.open(os.path.join(p, "new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644),
                   EROFS, "create excl in " + what)
        c.errno_is(lambda: os.mkdir(os.path.join(p, "newdir")), EROFS, "mkdir in " + what)
        c.errno_is(lambda: os.symlink("x", os.path.join(p, "sym")), EROFS, "symlink in " + what)
        c.errno_is(lambda: os.mknod(os.path.join(p, "fifo"), 0o644 | 0o010000), EROFS, "mknod in " + what)
        c.errno_is(lambda: os.chmod(p, 0o755), EROFS, "chmod " + what)
        c.errno_is(lambda: os.utime(p, (1, 1)), EROFS, "utime " + what)
    c.errno_is(lambda: os.rmdir(tdir), EROFS, "rmdir dir")
    c.errno_is(lambda: os.rmdir(mnt.p(".tensorfs")), EROFS, "rmdir .tensorfs")
    c.errno_is(lambda: os.rename(tdir, tdir + "x"), EROFS, "rename dir")
    c.errno_is(lambda: os.rename(tp, mnt.p("model/moved")), EROFS, "rename across dirs")
    # read-only open of a tensor still works and a write through it fails
    fd = os.open(tp, os.O_RDONLY)
    c.errno_is(lambda: os.write(fd, b"x"), errno.EBADF, "write on O_RDONLY fd")
    os.close(fd)
    # unknown names
    for bad in ("nope", "model/nope", "model/layers/999/x", ".tensorfs/nope", "config.json.bak",
                t["path"] + ".x", "unet"):
        c.errno_is(lambda: os.stat(mnt.p(bad)), errno.ENOENT, "ENOENT stat " + bad)
        c.errno_is(lambda: os.open(mnt.p(bad), os.O_RDONLY), errno.ENOENT, "ENOENT open " + bad)
    c.errno_is(lambda: os.stat(mnt.p(t["path"] + "/x")), errno.ENOTDIR, "file as dir")
    c.errno_is(lambda: os.listdir(tp), errno.ENOTDIR, "listdir on a tensor")
    c.errno_is(lambda: open(tdir, "rb").read(), errno.EISDIR, "read a dir")
    # shell tools
    tools = [["touch", tp], ["touch", mnt.p("newfile")], ["sh", "-c", "echo x > '%s'" % tp],
             ["sh", "-c", "echo x >> '%s'" % mnt.p("config.json")], ["mkdir", mnt.p("d1")],
             ["rm", "-f", tp], ["rm", "-rf", tdir], ["mv", tp, mnt.p("moved")], ["chmod", "644", tp],
             ["truncate", "-s", "0", tp], ["cp", "/etc/hostname", mnt.p("model/")], ["ln", "-s", "x", mnt.p("l")]]
    for cmd in tools:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        c.check(r.returncode != 0 and b"Read-only file system" in r.stderr, "tool fails EROFS",
                "%s -> rc=%d %r" % (" ".join(cmd[:2]), r.returncode, r.stderr[-120:]))
    # nothing moved
    c.check(read_all(tp) == shard_slice(m, t), "tensor intact")
    c.eq(read_all(mnt.p("config.json")), read_all(os.path.join(ck, "config.json")), "config.json intact")
c.done()
