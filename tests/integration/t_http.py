"""Checkpoints over HTTP: nginx on 127.0.0.1 (tests/http/nginx.sh, config tests/http/nginx.conf.in)
serves generated checkpoints; `tensorfs mount URL` and `tensorfs load --verify URL` must give every
tensor byte-exact for a sharded folder, a diffusers folder and a single file, a GGUF file and a
GGUF split set named by its first part (the rest found by name; a missing part is an error naming
it; a folder URL holding only GGUF says to name the file); the files named by the layout
(configs, tokenizer, index) appear. Faults: a slow server (limit_rate), a 503 location,
a location that ignores Range, one with a wrong Content-Range, nginx stopped under a live mount
and restarted (EIO within seconds, daemon alive, exact bytes again), a shard replaced on the
server (EIO, never the new bytes; the kernel's cached pages of it dropped too); --header and s3:// through --s3-endpoint."""
import errno
import json
import os
import subprocess
import threading
import time

from common import (REPO, TENSORFS, Checker, Mount, daemon_pids, find_path, gen, pid_alive,
                    read_all, shard_slice, tmpdir, wait_for)
import gguf_write

c = Checker("t_http")
NGINX_SH = os.path.join(REPO, "tests", "http", "nginx.sh")
www = tmpdir("www")
state = os.path.join(tmpdir("nginx"), "state")
sh = gen("sharded", os.path.join(www, "sh"), "--tensors", 60, "--shards", 3, "--seed", 5, "--size-mb", 6)
df = gen("diffusers", os.path.join(www, "diff"), "--tensors", 40, "--shards", 2, "--seed", 6, "--size-mb", 3)
one = gen("single", os.path.join(www, "one.safetensors"), "--tensors", 10, "--seed", 8, "--size-mb", 1)
big = gen("single", os.path.join(www, "big.safetensors"), "--tensors", 2, "--seed", 9, "--size-mb", 24)
g1 = gguf_write.write(os.path.join(www, "g"), "", 1, seed=9, single_name="one.gguf")
gs = gguf_write.write(os.path.join(www, "g"), "m", 3, seed=10)
gguf_write.write(os.path.join(www, "gmiss"), "m", 3, seed=11)
os.unlink(os.path.join(www, "gmiss", "m-00002-of-00003.gguf"))
os.environ["TENSORFS_HTTP_TIMEOUT"] = "3"   # faults surface within seconds
os.environ.pop("HF_TOKEN", None)

port = subprocess.run([NGINX_SH, "start", state, www], stdout=subprocess.PIPE, check=True).stdout.decode().strip()
base = "http://127.0.0.1:%s" % port


def nginx(cmd):
    subprocess.run([NGINX_SH, cmd, state], stdout=subprocess.DEVNULL, check=True)


def tensor_ok(mnt, m, t):
    try:
        return read_all(find_path(mnt, t)) == shard_slice(m, t)
    except OSError:
        return False


def all_exact(mnt, m, what):
    bad = [t["key"] for t in m["tensors"] if not tensor_ok(mnt, m, t)]
    c.check(not bad, what + ": every tensor byte-exact", "%d differ, e.g. %r" % (len(bad), bad[:3]))


def outcome(path):
    try:
        read_all(path)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def load_verify(url, *opts):
    r = subprocess.run([TENSORFS, "load", "--verify"] + list(opts) + [url], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def mount_fails(url, want, *opts):
    t0 = time.time()
    try:
        with Mount(url, opts):
            c.check(False, "mount of %s should fail" % url)
    except RuntimeError as e:
        c.check(want in str(e), "mount %s fails naming '%s'" % (url, want), str(e)[-300:])
    c.check(time.time() - t0 < 15, "failed mount within seconds", "%.1f s" % (time.time() - t0))


try:
    # ---- byte-exact through the mount and through load --verify -------------------------------
    with Mount(base + "/ok/sh/") as mnt:
        all_exact(mnt.path, sh, "sharded")
        for rel in ("config.json", "tokenizer.json", "model.safetensors.index.json",
                    "model-00002-of-00003.safetensors"):
            c.check(os.path.exists(mnt.p(rel)) and
                    read_all(mnt.p(rel)) == read_all(os.path.join(www, "sh", rel)), "named file exact", rel)
    with Mount(base + "/ok/diff/") as mnt:
        all_exact(mnt.path, df, "diffusers")
        for rel in ("model_index.json", "unet/config.json", "scheduler/scheduler_config.json",
                    "unet/diffusion_pytorch_model.safetensors.index.json"):
            c.check(os.path.exists(mnt.p(rel)), "diffusers named file shown", rel)
    with Mount(base + "/ok/one.safetensors") as mnt:
        all_exact(mnt.path, one, "single file")
    for url, m in ((base + "/ok/sh/", sh), (base + "/ok/diff/", df), (base + "/ok/one.safetensors", one)):
        rc, out = load_verify(url)
        c.check(rc == 0 and ("verify: %d tensors match" % len(m["tensors"])) in out, "load --verify " + url,
                out[-300:])

    # A URL's chunks are range GETs of one engine block (2 MiB by default), a local file's 8 MiB:
    # the largest chunk the load reports (staging_bytes) for tensors of ~12 MiB.
    for src, most, what in ((base + "/ok/big.safetensors", 2 << 20, "URL"),
                            (os.path.join(www, "big.safetensors"), 8 << 20, "local file")):
        r = subprocess.run([TENSORFS, "load", "--json", src], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        rep = json.loads(r.stdout) if r.returncode == 0 else {}
        c.check(rep.get("staging_bytes") == most, "load of a %s: chunks of %d bytes" % (what, most),
                (r.stdout + r.stderr).decode(errors="replace")[-300:])

    # ---- GGUF: one file, and a split set brought whole by the URL of its first part ------------
    with Mount(base + "/ok/g/one.gguf") as mnt:
        all_exact(mnt.path, g1, "GGUF file")
    with Mount(base + "/ok/g/m-00001-of-00003.gguf") as mnt:
        all_exact(mnt.path, gs, "GGUF split set")
        for k in (1, 2, 3):
            rel = "m-%05d-of-00003.gguf" % k
            c.check(any(t["shard"] == rel for t in gs["tensors"]), "split part holds tensors", rel)
    for url, m in ((base + "/ok/g/one.gguf", g1), (base + "/ok/g/m-00001-of-00003.gguf", gs)):
        rc, out = load_verify(url)
        c.check(rc == 0 and ("verify: %d tensors match" % len(m["tensors"])) in out, "load --verify " + url,
                out[-300:])
    mount_fails(base + "/ok/gmiss/m-00001-of-00003.gguf", "m-00002-of-00003.gguf")
    rc, out = load_verify(base + "/ok/gmiss/m-00001-of-00003.gguf")
    c.check(rc != 0 and "m-00002-of-00003.gguf" in out, "load names the missing split part", out[-300:])
    mount_fails(base + "/ok/g/", "name the .gguf file in the URL")

    # ---- a slow server: slower, still exact ----------------------------------------------------
    with Mount(base + "/slow/one.safetensors", ["--threads", "8"]) as mnt:
        all_exact(mnt.path, one, "slow server (limit_rate 512k)")

    # ---- servers that must be refused, quickly and by name -------------------------------------
    mount_fails(base + "/fail503/sh/", "HTTP 503")
    mount_fails(base + "/norange/one.safetensors", "ignored the Range")
    mount_fails(base + "/badrange/one.safetensors", "Content-Range")
    mount_fails(base + "/ok/nothing-here/", "no .safetensors checkpoint")
    rc, out = load_verify(base + "/norange/sh/")
    c.check(rc != 0 and "ignored the Range" in out, "load refuses a server that ignores Range", out[-200:])

    # ---- nginx stopped under a live mount, then restarted --------------------------------------
    downlog = os.path.join(tmpdir("downlog"), "daemon.log")
    with Mount(base + "/ok/sh/", ["--cache-size", "4M", "--block-size", "64K", "--strategy", "lazy",
                                  "--log", downlog]) as mnt:
        ts = sorted((t for t in sh["tensors"] if t["length"] >= 4096), key=lambda t: t["offset"])
        first, later = ts[:3], ts[-3:]
        for t in first:
            c.check(tensor_ok(mnt.path, sh, t), "before the stop: exact", t["key"])
        nginx("stop")
        for t in later:
            t0 = time.time()
            o = outcome(find_path(mnt.path, t))
            c.check(o == "EIO", "server down: EIO (got %s)" % o, t["key"])
            c.check(time.time() - t0 < 8, "server down: EIO within seconds", "%.1f s" % (time.time() - t0))
        c.check(all(pid_alive(p) for p in mnt.pids) and mnt.pids, "daemon alive while the server is down")
        dl = read_all(downlog).decode(errors="replace")
        c.check("gave up after" in dl and "connect" in dl.lower(),
                "the daemon's log gives the source's reason for the EIO", dl[-400:])
        nginx("restart")
        for t in later + first:
            c.check(tensor_ok(mnt.path, sh, t), "server back: exact again", t["key"])

    # ---- nginx stopped in the middle of a slow read and back a second later ---------------------
    os.environ["TENSORFS_HTTP_TIMEOUT"] = "30"  # a 2 MiB block takes 4 s at 512 KiB/s
    with Mount(base + "/slow/sh/", ["--threads", "2"]) as mnt:
        os.environ["TENSORFS_HTTP_TIMEOUT"] = "3"
        big = max(sh["tensors"], key=lambda t: t["length"])
        res = {}
        th = threading.Thread(target=lambda: res.setdefault("o", tensor_ok(mnt.path, sh, big) and "ok"
                                                             or outcome(find_path(mnt.path, big))))
        th.start()
        time.sleep(0.7)
        nginx("stop")
        time.sleep(1.0)
        nginx("restart")
        th.join(60)
        c.check(not th.is_alive(), "read across a restart returns (no hang)")
        c.check(res.get("o") in ("ok", "EIO"), "read across a restart: exact bytes or EIO, never others",
                repr(res.get("o")))
        c.check(tensor_ok(mnt.path, sh, big), "after the restart: exact", big["key"])

    # ---- a shard replaced on the server: EIO, never the new bytes; once a fetch finds it changed,
    # the kernel's cached pages of the shard file go too (as for a changed local shard) -----------
    victim = sh["tensors"][-1]["shard"]
    vpath = os.path.join(www, "sh", victim)
    orig = read_all(vpath)
    log = os.path.join(tmpdir("httplog"), "daemon.log")
    # lazy and a 16 KiB kernel readahead: the head read below caches the head only, so reading the
    # last tensor after the change has to fetch it
    with Mount(base + "/ok/sh/", ["--cache-size", "4M", "--block-size", "64K", "--strategy", "lazy",
                                  "--kernel-readahead", "16K", "--log", log]) as mnt:
        vt = [t for t in sh["tensors"] if t["shard"] == victim and t["length"] > 0]
        others = [t for t in sh["tensors"] if t["shard"] != victim and t["length"] > 0][:5]
        c.check(tensor_ok(mnt.path, sh, vt[0]), "before the change: exact")
        with open(mnt.p(victim), "rb") as f:   # the shard file's head, now in the kernel's cache
            head = f.read(4096)
        c.check(head == orig[:4096], "before the change: the shard file's head exact")
        changed = bytearray(orig)
        for t in vt:
            changed[t["offset"]] ^= 0xFF
        with open(vpath, "wb") as f:
            f.write(changed)
        st = os.stat(vpath)
        os.utime(vpath, (st.st_atime + 10, st.st_mtime + 10))
        o = outcome(find_path(mnt.path, vt[-1]))
        c.check(o == "EIO", "shard changed on the server: EIO (got %s)" % o)
        c.check(wait_for(lambda: os.path.exists(log) and (victim + " changed on the server") in
                         open(log).read(), 5), "the daemon dropped the changed shard's pages",
                read_all(log).decode(errors="replace")[-300:] if os.path.exists(log) else "no log")
        try:
            with open(mnt.p(victim), "rb") as f:
                o = "ok: " + ("old bytes" if f.read(4096) == head else "other bytes")
        except OSError as e:
            o = errno.errorcode.get(e.errno, str(e.errno))
        c.check(o == "EIO", "cached head of the changed shard file: EIO, not the kernel's old copy",
                "got " + o)
        for t in others:
            c.check(tensor_ok(mnt.path, sh, t), "other shards still exact", t["key"])
    with open(vpath, "wb") as f:
        f.write(orig)

    # ---- --header and s3:// ------------------------------------------------------------------------
    mount_fails(base + "/hdr/one.safetensors", "HTTP 403")
    with Mount(base + "/hdr/one.safetensors", ["--header", "X-Test: 42"]) as mnt:
        all_exact(mnt.path, one, "--header")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret")
    os.environ.update(AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret")
    with Mount("s3://bucket/sh/", ["--s3-endpoint", base + "/s3"]) as mnt:
        all_exact(mnt.path, sh, "s3:// via --s3-endpoint")
    log = read_all(os.path.join(state, "s3.log")).decode()
    c.check("AWS4-HMAC-SHA256 Credential=AKIDTEST/" in log, "s3 requests carry a SigV4 Authorization", log[:200])
finally:
    subprocess.run([NGINX_SH, "stop", state])
c.done()
