#!/usr/bin/python3
"""test_load.py - the Python front end of device placement (python/tensorfs) on the host.

Builds small checkpoints on the fly (a single file with every numpy-expressible dtype, and a
sharded folder), loads them with tensorfs.load / load_numpy, and checks every tensor against
numpy's own reading of the file slice; checks that a 7-tensor selection reads only the blocks of
those tensors (engine stats), device maps, errors, and that tensors outlive their Checkpoint.
Run with Debian's /usr/bin/python3 (unittest, numpy, torch); tests/python/run.sh runs it.
"""
import errno
import gc
import json
import os
import shutil
import struct
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import tensorfs  # noqa: E402

try:
    import torch
except ImportError:    # run.sh reports the torch tests as skipped
    torch = None

NP = {"BOOL": "|b1", "U8": "|u1", "I8": "|i1", "F8_E5M2": "|u1", "F8_E4M3": "|u1", "I16": "<i2",
      "U16": "<u2", "F16": "<f2", "BF16": "<u2", "I32": "<i4", "U32": "<u4", "F32": "<f4",
      "C64": "<c8", "F64": "<f8", "I64": "<i8", "U64": "<u8"}


def make_values(rng, dtype, shape):
    """Deterministic values of a safetensors dtype, as the bytes to write."""
    n = int(np.prod(shape, dtype=np.int64))
    if dtype == "BOOL":
        a = rng.integers(0, 2, n).astype(bool)
    elif dtype in ("F16", "F32", "F64"):
        a = rng.standard_normal(n).astype(NP[dtype])
    elif dtype == "BF16":
        a = (rng.standard_normal(n).astype("<f4").view("<u4") >> 16).astype("<u2")
    elif dtype == "C64":
        a = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype("<c8")
    else:
        info = np.iinfo(np.dtype(NP[dtype]))
        a = rng.integers(info.min, info.max, n, dtype=np.dtype(NP[dtype]), endpoint=True)
    return a.tobytes()


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, bytes), written in order."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for t in tensors:
            f.write(t[3])


def read_file_tensors(path):
    """numpy's reading of a safetensors file: {name: (dtype, array, absolute offset, length)}."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        start = 8 + n + b
        arr = np.frombuffer(blob[start:8 + n + e], dtype=NP[info["dtype"]]).reshape(info["shape"])
        out[name] = (info["dtype"], arr, start, e - b)
    return out


def torch_as_numpy(t, dtype):
    """The bits of a loaded torch tensor as a numpy array of NP[dtype] (no value conversion)."""
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    elif str(t.dtype).startswith("torch.float8"):
        t = t.view(torch.uint8)
    elif str(t.dtype) in ("torch.uint16", "torch.uint32", "torch.uint64"):
        t = t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])
    return t.numpy().view(NP[dtype])


class LoadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tfs-py-")
        rng = np.random.default_rng(7)
        shapes = [(3, 5), (17,), (), (0, 4), (2, 3, 4), (129,), (64, 33)]
        single = []
        for i, dtype in enumerate(NP):
            shape = shapes[i % len(shapes)]
            single.append(("x.%s.%d" % (dtype.lower(), i), dtype, shape,
                           make_values(rng, dtype, shape)))
        cls.single = os.path.join(cls.dir, "model.safetensors")
        write_safetensors(cls.single, single)

        # A sharded folder: 2 shards, 4 layers of tensors from 1 KiB to ~300 KiB.
        cls.sharded = os.path.join(cls.dir, "sharded")
        os.mkdir(cls.sharded)
        weight_map, shards = {}, [[], []]
        for layer in range(4):
            for j, (part, dtype, shape) in enumerate([
                    ("self_attn.q_proj.weight", "F32", (192, 200)),
                    ("self_attn.q_proj.bias", "F16", (300,)),
                    ("mlp.up_proj.weight", "BF16", (150, 1000)),
                    ("mlp.mask", "BOOL", (1000,)),
                    ("input_layernorm.weight", "F32", (257,))]):
                name = "model.layers.%d.%s" % (layer, part)
                shards[layer // 2].append((name, dtype, shape, make_values(rng, dtype, shape)))
        shards[0].insert(0, ("model.embed_tokens.weight", "F16", (500, 64),
                             make_values(rng, "F16", (500, 64))))
        shards[1].append(("lm_head.weight", "F32", (64, 500), make_values(rng, "F32", (64, 500))))
        for k, tensors in enumerate(shards):
            fname = "model-%05d-of-00002.safetensors" % (k + 1)
            write_safetensors(os.path.join(cls.sharded, fname), tensors)
            for t in tensors:
                weight_map[t[0]] = fname
        with open(os.path.join(cls.sharded, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
        cls.truth = {}
        for fname in sorted(set(weight_map.values())):
            for name, v in read_file_tensors(os.path.join(cls.sharded, fname)).items():
                cls.truth[name] = v + (fname,)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def check_equal(self, loaded, truth, as_numpy):
        self.assertEqual(sorted(loaded), sorted(truth))
        for name, t in loaded.items():
            dtype, want = truth[name][0], truth[name][1]
            got = as_numpy(t, dtype)
            self.assertEqual(got.shape, want.shape, name)
            self.assertEqual(got.dtype, want.dtype, name)
            self.assertTrue(np.array_equal(got, want), name)
            self.assertEqual(got.tobytes(), want.tobytes(), name)

    @unittest.skipIf(torch is None, "torch is not installed")
    def test_torch_cpu_every_dtype(self):
        loaded = tensorfs.load(self.single)
        truth = read_file_tensors(self.single)
        self.check_equal(loaded, truth, torch_as_numpy)
        by_dtype = {truth[k][0]: v for k, v in loaded.items()}
        self.assertEqual(by_dtype["BOOL"].dtype, torch.bool)
        self.assertEqual(by_dtype["BF16"].dtype, torch.bfloat16)
        self.assertEqual(by_dtype["C64"].dtype, torch.complex64)
        self.assertEqual(by_dtype["F16"].dtype, torch.float16)
        for t in loaded.values():
            self.assertEqual(t.device.type, "cpu")

    @unittest.skipIf(torch is None, "torch is not installed")
    def test_torch_sharded(self):
        with tensorfs.Checkpoint(self.sharded, block_size=65536) as ck:
            loaded = ck.load("cpu", verify=True, staging_bytes=65536, staging_buffers=3)
            rep = ck.last_report
        self.check_equal(loaded, self.truth, torch_as_numpy)
        self.assertEqual(rep["tensors"], len(self.truth))
        self.assertEqual(rep["bytes"], sum(v[3] for v in self.truth.values()))
        self.assertEqual(rep["devices"][0]["device"], "cpu")

    def test_numpy(self):
        loaded = tensorfs.load_numpy(self.single)
        truth = read_file_tensors(self.single)
        self.check_equal(loaded, truth, lambda a, dtype: a.view(NP[dtype]))
        by_dtype = {truth[k][0]: v for k, v in loaded.items()}
        self.assertEqual(by_dtype["BOOL"].dtype, np.bool_)
        self.assertEqual(by_dtype["BF16"].dtype, np.uint16)     # raw bits, documented
        self.assertEqual(by_dtype["F8_E4M3"].dtype, np.uint8)   # raw bits, documented

    def test_selection_reads_only_selected(self):
        block = 65536
        chosen = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.mask",
                  "model.layers.1.mlp.up_proj.weight", "model.layers.2.self_attn.q_proj.bias",
                  "model.layers.3.input_layernorm.weight", "model.layers.3.mlp.up_proj.weight",
                  "lm_head.weight"]
        with tensorfs.Checkpoint(self.sharded, block_size=block, cache_size=64 << 20) as ck:
            loaded = ck.load_numpy(select=chosen)
            stats, rep = ck.stats(), ck.last_report
        self.assertEqual(sorted(loaded), sorted(chosen))
        self.check_equal(loaded, {k: self.truth[k] for k in chosen},
                         lambda a, dtype: a.view(NP[dtype]))
        selected = sum(self.truth[k][3] for k in chosen)
        # The blocks those tensors touch are all the engine may read.
        touched = set()
        for k in chosen:
            _, _, off, length, fname = self.truth[k]
            touched.update((fname, b) for b in range(off // block, (off + length - 1) // block + 1))
        sizes = {f: os.path.getsize(os.path.join(self.sharded, f)) for f, _ in touched}
        touched_bytes = sum(min(block, sizes[f] - b * block) for f, b in touched)
        self.assertEqual(rep["bytes"], selected)
        self.assertEqual(rep["skipped"], len(self.truth) - 7)
        self.assertEqual(stats["bytes_from_disk"], rep["bytes_from_disk"])
        self.assertGreaterEqual(stats["bytes_from_disk"], selected)
        self.assertLessEqual(stats["bytes_from_disk"], touched_bytes)
        self.assertLessEqual(stats["bytes_from_disk"], selected + 2 * block * len(chosen))

    def test_globs_and_device_map(self):
        loaded = tensorfs.load_numpy(self.sharded, select="model.layers.1.*")
        self.assertEqual(sorted(loaded), sorted(k for k in self.truth
                                                if k.startswith("model.layers.1.")))
        dmap = {"": "cpu", "model.layers.1": "disk", "model.layers.1.mlp": "cpu",
                "lm_head": "disk"}
        loaded = tensorfs.load_numpy(self.sharded, device_map=dmap)
        want = [k for k in self.truth if not k.startswith("lm_head") and
                (not k.startswith("model.layers.1.") or k.startswith("model.layers.1.mlp."))]
        self.assertEqual(sorted(loaded), sorted(want))
        path = os.path.join(self.dir, "map.json")
        with open(path, "w") as f:
            json.dump({"model.embed_tokens": "cpu"}, f)
        self.assertEqual(list(tensorfs.load_numpy(self.sharded, device_map=path)),
                         ["model.embed_tokens.weight"])

    def test_errors(self):
        with self.assertRaises(tensorfs.TensorfsError) as cm:
            tensorfs.load_numpy(self.sharded, device_map={"model.layers.0": "mps"})
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertIn('"model.layers.0"', str(cm.exception))
        self.assertIn("mps", str(cm.exception))
        with self.assertRaises(tensorfs.TensorfsError) as cm:
            tensorfs.load_numpy(self.sharded, device_map={"x": -1})
        self.assertIn("negative GPU index", str(cm.exception))
        with self.assertRaises(tensorfs.TensorfsError) as cm:
            tensorfs.load_numpy(os.path.join(self.dir, "missing"))
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        if tensorfs.cuda_device_count() == 0 and torch is not None:
            with self.assertRaises(tensorfs.TensorfsError) as cm:
                tensorfs.load(self.single, device="cuda:0")
            self.assertEqual(cm.exception.errno, errno.ENODEV)
            self.assertTrue(cm.exception.strerror.startswith("cuda:0: "), str(cm.exception))

    @unittest.skipIf(torch is None, "torch is not installed")
    def test_tensors_outlive_checkpoint(self):
        ck = tensorfs.Checkpoint(self.sharded)
        loaded = ck.load(select=["lm_head.weight", "model.embed_tokens.weight"])
        ck.close()
        del ck
        gc.collect()
        for name, t in loaded.items():
            self.assertTrue(np.array_equal(torch_as_numpy(t, self.truth[name][0]),
                                           self.truth[name][1]))
        # Views keep the arena alive after the dict is gone.
        view = loaded["lm_head.weight"][1:3]
        want = self.truth["lm_head.weight"][1][1:3].copy()
        del loaded
        gc.collect()
        self.assertTrue(np.array_equal(view.numpy(), want))


if __name__ == "__main__":
    unittest.main()
