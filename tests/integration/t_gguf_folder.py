"""A local folder holding a GGUF checkpoint opens like one holding model.safetensors: a lone .gguf
or one split set (PREFIX-0000K-of-0000N.gguf) mounts, lists and loads (`--verify`) byte-exact with
the folder's other files beside it; a folder of several unrelated GGUF checkpoints is refused by
`ls`, `mount` and `load` with one line listing them and asking for the file."""
import os
import subprocess

from common import TENSORFS, Checker, Mount, find_path, read_all, shard_slice, tmpdir
import gguf_write

c = Checker("t_gguf_folder")
d = tmpdir("ck")
lone = gguf_write.write(os.path.join(d, "lone"), "", 1, seed=3, single_name="tiny.gguf")
with open(os.path.join(d, "lone", "config.json"), "w") as f:
    f.write('{"arch": "llama"}')
split = gguf_write.write(os.path.join(d, "split"), "tiny", 3, seed=4)
two = os.path.join(d, "two")
gguf_write.write(two, "", 1, seed=5, single_name="a.gguf")
gguf_write.write(two, "b", 2, seed=6)


def run(*args):
    r = subprocess.run([TENSORFS] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


for name, m, layout in (("lone", lone, "layout gguf"), ("split", split, "layout gguf-split")):
    folder = os.path.join(d, name)
    rc, out = run("ls", folder)
    c.check(rc == 0 and ("%d tensors" % len(m["tensors"])) in out and layout in out, "ls " + name, out[-300:])
    with Mount(folder) as mnt:
        bad = [t["key"] for t in m["tensors"] if read_all(find_path(mnt.path, t)) != shard_slice(m, t)]
        c.check(not bad, name + ": every tensor byte-exact through the mount", repr(bad[:3]))
        if name == "lone":
            c.check(read_all(mnt.p("config.json")) == b'{"arch": "llama"}', "the folder's other files show")
    rc, out = run("load", "--verify", folder)
    c.check(rc == 0 and ("verify: %d tensors match" % len(m["tensors"])) in out, "load --verify " + name,
            out[-300:])

want = "2 GGUF checkpoints (a.gguf, b-00001-of-00002.gguf): name the .gguf file"
for args in (["ls", two], ["load", two]):
    rc, out = run(*args)
    c.check(rc != 0 and want in out and len(out.strip().splitlines()) == 1,
            "%s of several GGUF: one line listing them" % args[0], out[-300:])
try:
    with Mount(two):
        c.check(False, "mount of several GGUF checkpoints should fail")
except RuntimeError as e:
    c.check(want in str(e), "mount of several GGUF: refused listing them", str(e)[-300:])
c.done()
