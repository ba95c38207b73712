"""gguf_write.py - writes small GGUF v3 checkpoints for the integration tests (one file or a split
set named PREFIX-0000K-of-0000N.gguf with the split.* keys llama.cpp's gguf-split writes), from the
spec (docs/FORMATS.md), and returns a manifest shaped like gen_ckpt.py's (root, tensors with key,
path, shard, offset, length), so common.find_path and common.shard_slice work on it unchanged."""
import os
import random
import struct

import gen_ckpt

F32, F16, Q8_0 = 0, 1, 8
TYPES = {F32: ("F32", 1, 4), F16: ("F16", 1, 2), Q8_0: ("Q8_0", 32, 34)}  # name, elems/block, bytes
KV_U16, KV_I32, KV_STR = 2, 5, 8
ALIGN = 32


def _str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _kv(key, vtype, val):
    if vtype == KV_U16:
        v = struct.pack("<H", val)
    elif vtype == KV_I32:
        v = struct.pack("<i", val)
    else:
        v = _str(val)
    return _str(key) + struct.pack("<I", vtype) + v


def _pad(n):
    return -n % ALIGN


def write_file(path, tensors, kvs, rng):
    """tensors: [(name, ggml type, dims fastest-first)]; returns [(name, type, dims, abs offset,
    length)] with the bytes written at those offsets."""
    body, infos, out, off = [], b"", [], 0
    for name, gt, dims in tensors:
        n = 1
        for d in dims:
            n *= d
        _, be, bb = TYPES[gt]
        length = n // be * bb
        infos += _str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", gt, off)
        body.append((off, bytes(rng.getrandbits(8) for _ in range(length))))
        out.append([name, gt, dims, off, length])
        off += length + _pad(length)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(_kv(*k) for k in kvs)
    head += infos
    data0 = len(head) + _pad(len(head))
    blob = bytearray(head + b"\0" * (data0 - len(head) + off))
    for o, b in body:
        blob[data0 + o:data0 + o + len(b)] = b
    with open(path, "wb") as f:
        f.write(blob)
    for t in out:
        t[3] += data0
    return out


def write(root, prefix, parts, n_tensors=12, seed=1, single_name=None):
    """Writes a checkpoint into the folder `root`: one file `single_name` when parts == 1 and it is
    given, else PREFIX-0000K-of-0000N.gguf for K = 1..parts. Tensors cycle F32, F16, Q8_0, sized
    so that several span more than one 64 KiB cache block. Returns the manifest."""
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    plan = []
    for i in range(n_tensors):
        gt = (F32, F16, Q8_0)[i % 3]
        plan.append(("blk.%d.w%d" % (i // 3, i % 3), gt, [256, 16 + 37 * i]))
    per = (n_tensors + parts - 1) // parts
    manifest = {"root": root, "tensors": []}
    for k in range(parts):
        chunk = plan[k * per:(k + 1) * per]
        kvs = [("general.architecture", KV_STR, "llama")]
        if parts > 1:
            kvs += [("split.no", KV_U16, k), ("split.count", KV_U16, parts)]
            if k == 0:
                kvs.append(("split.tensors.count", KV_I32, n_tensors))
        fn = single_name if parts == 1 and single_name else "%s-%05d-of-%05d.gguf" % (prefix, k + 1, parts)
        for name, gt, dims, off, length in write_file(os.path.join(root, fn), chunk, kvs, rng):
            manifest["tensors"].append({"key": name, "name": name, "component": "", "shard": fn,
                                        "dtype": TYPES[gt][0], "offset": off, "length": length})
    gen_ckpt.assign_paths(manifest["tensors"])
    return manifest
