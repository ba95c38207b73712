"""numpy.fromfile(mount path, dtype).reshape(shape) equals the values the generator wrote (regenerated
from the seed, not read from the shard), for every tensor and dtype; numpy.memmap (mmap) works too."""
import os

import numpy as np

from common import Checker, Mount, gen, gen_ckpt, tmpdir

c = Checker("t_numpy")
d = tmpdir("ck")
ck = os.path.join(d, "sh")
m = gen("sharded", ck, "--tensors", 200, "--shards", 3, "--seed", 31)
seen = set()
with Mount(ck) as mnt:
    for t in m["tensors"]:
        p = mnt.p(t["path"])
        want = gen_ckpt.tensor_array(t)
        try:
            got = np.fromfile(p, dtype=gen_ckpt.numpy_dtype(t["dtype"])).reshape(t["shape"])
        except (OSError, ValueError) as e:
            c.check(False, "fromfile", "%s: %s" % (t["path"], e))
            continue
        c.check(got.shape == want.shape and np.array_equal(got, want), "values", "%s %s %s" % (
            t["path"], t["dtype"], t["shape"]))
        if t["dtype"] in ("F16", "F32", "F64"):
            c.check(bool(np.all(np.isfinite(got))), "finite floats", t["path"])
        if t["length"] and t["dtype"] not in seen:  # one memmap per dtype
            seen.add(t["dtype"])
            try:
                mm = np.memmap(p, dtype=gen_ckpt.numpy_dtype(t["dtype"]), mode="r", shape=tuple(t["shape"]))
                c.check(np.array_equal(np.asarray(mm), want), "memmap values", t["path"])
                del mm
            except (OSError, ValueError) as e:
                c.check(False, "memmap", "%s: %s" % (t["path"], e))
    c.eq(len(seen), len(gen_ckpt.ALL_DTYPES), "every dtype covered")
c.done()
