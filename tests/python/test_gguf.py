#!/usr/bin/env python3
"""test_gguf.py - GGUF files written by the `gguf` package (gguf-py, llama.cpp's own writer), read
back through tensorfs: safe_open / load_file / Checkpoint, `tensorfs ls`, and the mount (raw and
--view npy), compared byte for byte with what was written and with gguf-py's GGUFReader.

Every ggml type gguf-py knows is written (quantized ones as raw blocks, which gguf-py's writer
accepts for every type), one file of them all and a split set written by GGUFWriter's own
split_max_tensors. Q8_1 is left out: gguf-py sizes its block as 40 bytes, ggml (and tensorfs) as
36 (sizeof(block_q8_1)); no model file carries Q8_1 (it is a matmul-only type).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import tensorfs  # noqa: E402
from mounting import TENSORFS, Mount, fuse_usable  # noqa: E402

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as QT
except ImportError:
    gguf = None

NATIVE = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I8": np.int8,
          "I16": np.int16, "I32": np.int32, "I64": np.int64} if gguf else {}


def types_to_write():
    return [t for t in QT if t != QT.Q8_1]


def make_tensors(seed=0):
    """{name: (type name, numpy-order logical shape, bytes, array given to the writer, raw_dtype)}"""
    rng = np.random.default_rng(seed)
    out = {}
    for i, t in enumerate(types_to_write()):
        be, bb = gguf.GGML_QUANT_SIZES[t]
        rows, blocks = 2 + i % 3, 2
        shape = [rows, blocks * be]
        name = "blk.%d.%s.weight" % (i, t.name.lower())
        if t.name in NATIVE:
            arr = (rng.standard_normal(shape) * 50).astype(NATIVE[t.name])
            out[name] = (t.name, shape, arr.tobytes(), arr, None)
        else:
            raw = rng.integers(0, 256, size=(rows, blocks * bb), dtype=np.uint8)
            out[name] = (t.name, shape, raw.tobytes(), raw, t)
    out["output_norm.weight"] = ("F32", [7], np.arange(7, dtype=np.float32).tobytes(),
                                 np.arange(7, dtype=np.float32), None)
    return out


def write(path, tensors, split_max_tensors=0):
    w = gguf.GGUFWriter(path, "llama", split_max_tensors=split_max_tensors)
    w.add_name("tiny")
    w.add_block_count(3)
    w.add_uint32("llama.context_length", 128)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_token_list(["<s>", "</s>", "hello", "wörld"])
    w.add_array("tokenizer.ggml.scores", [0.0, -1.5, 2.25, 3.0])
    for name, (_, _, _, arr, raw_dtype) in tensors.items():
        w.add_tensor(name, arr, raw_dtype=raw_dtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@unittest.skipIf(gguf is None, "gguf/numpy not installed (run tests/python/run.sh)")
class TestGGUF(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tfs-gguf-")
        cls.tensors = make_tensors()
        cls.path = os.path.join(cls.tmp, "tiny.gguf")
        write(cls.path, cls.tensors)
        cls.split_dir = os.path.join(cls.tmp, "split")
        os.makedirs(cls.split_dir)
        write(os.path.join(cls.split_dir, "tiny.gguf"), cls.tensors, split_max_tensors=10)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check_handle(self, f):
        self.assertEqual(sorted(f.keys()), sorted(self.tensors))
        for name, (tname, shape, raw, _, _) in self.tensors.items():
            s = f.get_slice(name)
            self.assertEqual(s.get_dtype(), tname, name)
            self.assertEqual(s.get_shape(), shape, name)
            got = f.get_tensor(name)
            self.assertEqual(got.tobytes(), raw, name)
            be, bb = gguf.GGML_QUANT_SIZES[QT[tname]]
            if be > 1:
                self.assertEqual(f.get_block(name), (be, bb), name)
                self.assertEqual(got.dtype, np.uint8)
                self.assertEqual(list(got.shape), [len(raw) // bb, bb], name)
                # a slice of blocks reads those rows only
                self.assertEqual(s[1:2].tobytes(), raw[bb:2 * bb], name)
            elif tname in NATIVE:
                self.assertEqual(got.dtype, np.dtype(NATIVE[tname]), name)
                self.assertEqual(list(got.shape), shape, name)

    def test_safe_open_every_type(self):
        with tensorfs.safe_open(self.path, framework="np") as f:
            self.assertEqual(f.layout, "gguf")
            self.check_handle(f)
            md = f.file_metadata()["tiny.gguf"]
            self.assertEqual(md["general.architecture"], "llama")
            self.assertEqual(md["general.name"], "tiny")
            self.assertEqual(md["llama.context_length"], 128)
            self.assertEqual(md["tokenizer.ggml.tokens"], ["<s>", "</s>", "hello", "wörld"])
            self.assertEqual(md["tokenizer.ggml.scores"], [0.0, -1.5, 2.25, 3.0])
            self.assertIs(md["tokenizer.ggml.add_bos_token"], True)
            self.assertEqual(f.metadata()["general.architecture"], "llama")
            self.assertEqual(f.metadata()["llama.context_length"], "128")

    def test_against_gguf_reader(self):
        r = gguf.GGUFReader(self.path)
        with tensorfs.safe_open(self.path, framework="np") as f:
            self.assertEqual(len(r.tensors), len(f.keys()))
            for t in r.tensors:
                s = f.get_slice(t.name)
                self.assertEqual(s.get_dtype(), t.tensor_type.name, t.name)
                self.assertEqual(s.get_shape(), [int(x) for x in reversed(t.shape)], t.name)
                self.assertEqual(f.get_tensor(t.name).tobytes(), t.data.tobytes(), t.name)

    def test_load_file_and_torch(self):
        import torch
        sd = tensorfs.load_file(self.path)
        for name, (tname, shape, raw, _, _) in self.tensors.items():
            t = sd[name]
            self.assertEqual(t.contiguous().view(torch.uint8).numpy().tobytes()
                             if t.dtype != torch.uint8 else t.numpy().tobytes(), raw, name)
            if tname == "BF16":
                self.assertEqual(t.dtype, torch.bfloat16)
                self.assertEqual(list(t.shape), shape)
            elif tname in NATIVE:
                self.assertEqual(list(t.shape), shape)
            else:
                self.assertEqual(t.dtype, torch.uint8)

    def test_split_set(self):
        parts = sorted(os.listdir(self.split_dir))
        self.assertGreater(len(parts), 1, parts)
        self.assertTrue(parts[0].endswith("-00001-of-%05d.gguf" % len(parts)), parts)
        with tensorfs.safe_open(os.path.join(self.split_dir, parts[0]), framework="np") as f:
            self.assertEqual(f.layout, "gguf-split")
            self.check_handle(f)
            self.assertEqual(sorted(f.file_metadata()), parts)
        if len(parts) > 1:
            with self.assertRaises(tensorfs.TensorfsError) as e:
                tensorfs.safe_open(os.path.join(self.split_dir, parts[1]))
            self.assertIn("open the first file", str(e.exception))

    def test_ls(self):
        r = subprocess.run([TENSORFS, "ls", self.path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {ln.split()[0]: ln.split() for ln in r.stdout.splitlines()[1:]}
        for name, (tname, shape, raw, _, _) in self.tensors.items():
            self.assertEqual(rows[name][1], tname)
            self.assertEqual(rows[name][2], ",".join(map(str, shape)))
            self.assertEqual(int(rows[name][3]), len(raw))
        r = subprocess.run([TENSORFS, "ls", "--metadata", self.path], capture_output=True, text=True)
        self.assertIn('"tokenizer.ggml.tokens"', r.stdout)

    @unittest.skipUnless(fuse_usable(), "FUSE or build/tensorfs unavailable")
    def test_mount(self):
        import json
        mnt = os.path.join(self.tmp, "mnt")
        with Mount(self.path, mnt):
            for name, (tname, shape, raw, _, _) in self.tensors.items():
                p = os.path.join(mnt, *name.split("."))
                with open(p, "rb") as fh:
                    self.assertEqual(fh.read(), raw, name)
                self.assertEqual(os.getxattr(p, "user.tensorfs.dtype").decode(), tname)
                self.assertEqual(os.getxattr(p, "user.tensorfs.shape").decode(),
                                 ",".join(map(str, shape)))
                be, bb = gguf.GGML_QUANT_SIZES[QT[tname]]
                if be > 1:
                    self.assertEqual(os.getxattr(p, "user.tensorfs.block").decode(),
                                     "%d,%d" % (be, bb))
                else:
                    self.assertNotIn("user.tensorfs.block", os.listxattr(p))
            with open(os.path.join(mnt, ".tensorfs", "metadata.json")) as fh:
                md = json.load(fh)
            self.assertEqual(md["tiny.gguf"]["tokenizer.ggml.tokens"][3], "wörld")
        with Mount(self.path, mnt, ["--view", "npy"]):
            for name, (tname, shape, raw, arr, _) in self.tensors.items():
                p = os.path.join(mnt, *name.split(".")) + ".npy"
                a = np.load(p, mmap_mode="r")
                self.assertEqual(a.tobytes(), raw, name)
                be, bb = gguf.GGML_QUANT_SIZES[QT[tname]]
                if be > 1:
                    self.assertEqual((a.dtype, a.shape), (np.dtype(np.uint8), (len(raw) // bb, bb)))
                elif tname == "BF16":
                    self.assertEqual((a.dtype, list(a.shape)), (np.dtype("<u2"), shape))
                else:
                    self.assertEqual((a.dtype, list(a.shape)), (arr.dtype, shape), name)
                del a


if __name__ == "__main__":
    unittest.main()
