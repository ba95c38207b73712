#!/usr/bin/env python3
"""test_safe.py - tensorfs.safe_open / load_file against the real safetensors package.

For files written by safetensors itself (every dtype torch has, float8 and uint16/32/64 and
float4 included), tensorfs must return exactly what safetensors returns: keys, offset order,
metadata, dtypes, shapes, bytes, slices (the same index expressions on both, errors included).
Also: slices read only the bytes they need (engine stats), a torch.nn model round-trips with
load_state_dict(strict=True), sharded folders, numpy stand-ins, errors, the engine options mirror.
Runs in the pinned venv (tests/python/run.sh); skipped where safetensors/torch are missing.
"""
import ctypes
import errno
import json
import os
import shutil
import struct
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import tensorfs  # noqa: E402

try:
    import numpy as np
    import torch
    import safetensors
    import safetensors.torch
    import safetensors.numpy
except ImportError:     # not the pinned venv
    safetensors = None

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# name -> (torch dtype, safetensors header dtype)
DTYPES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "float8_e5m2": "F8_E5M2",
          "float8_e4m3fn": "F8_E4M3", "float8_e8m0fnu": "F8_E8M0", "int16": "I16",
          "uint16": "U16", "float16": "F16", "bfloat16": "BF16", "int32": "I32",
          "uint32": "U32", "float32": "F32", "complex64": "C64", "float64": "F64",
          "int64": "I64", "uint64": "U64", "float4_e2m1fn_x2": "F4"}
SHAPES = [(7, 9), (33,), (), (0, 4), (3, 4, 5), (129,), (16, 12), (2, 3, 4, 2)]


def random_tensor(gen, dtype, shape):
    """Random bits of `dtype` (any bit pattern, NaNs included), except bool (0/1)."""
    n = 1
    for d in shape:
        n *= d
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=gen).bool()
    size = torch.empty((), dtype=dtype).element_size()
    raw = torch.randint(0, 256, (n * size,), dtype=torch.uint8, generator=gen)
    return raw.view(dtype).reshape(shape)


def bits(t):
    """A tensor's bytes (no value conversion), comparable whatever the dtype."""
    t = t.detach().cpu().contiguous().reshape(-1)
    return bytes(t.view(torch.uint8).numpy().tobytes()) if t.numel() else b""


def same(test, got, want, what):
    test.assertEqual(type(got), type(want), what)
    test.assertEqual(got.dtype, want.dtype, what)
    test.assertEqual(tuple(got.shape), tuple(want.shape), what)
    if isinstance(want, torch.Tensor):
        test.assertEqual(bits(got), bits(want), what)
    else:
        test.assertEqual(np.ascontiguousarray(got).tobytes(),
                         np.ascontiguousarray(want).tobytes(), what)


# Index expressions tried on both libraries (as source text, for messages).
INDICES = ["[0]", "[-1]", "[1:3]", "[:, 1:3]", "[..., 1]", "[..., 1:3]", "[::2]", "[1::3]",
           "[2:1]", "[50:90]", "[-2:]", "[:, -1]", "[0, 1]", "[:, :, ::2]", "[1, ..., 2]",
           "[:]", "[()]", "[...]", "[None]", "[[0, 1]]", "[:, ::-1]", "[99]", "[0, 0, 0, 0, 0]",
           "[1:2, 2:3]", "[0:100, 0:1]", "[torch.tensor(1)]"]


@unittest.skipIf(safetensors is None, "safetensors/torch/numpy not installed (run tests/python/run.sh)")
class SafeOpenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tfs-safe-")
        gen = torch.Generator().manual_seed(11)
        cls.tensors = {}
        for i, name in enumerate(DTYPES):
            dt = getattr(torch, name)
            shape = SHAPES[i % len(SHAPES)]
            if name == "float4_e2m1fn_x2" and not shape:
                shape = (4, 3)
            cls.tensors["t.%s.%d" % (name, i)] = random_tensor(gen, dt, shape)
            # every dtype also as a 2-D and a 3-D tensor, for slices
            cls.tensors["m.%s" % name] = random_tensor(gen, dt, (11, 6))
            cls.tensors["c.%s" % name] = random_tensor(gen, dt, (5, 4, 3))
        cls.meta = {"format": "pt", "note": "tensorfs differential test", "empty": ""}
        cls.path = os.path.join(cls.dir, "all.safetensors")
        safetensors.torch.save_file(cls.tensors, cls.path, metadata=cls.meta)
        cls.plain = os.path.join(cls.dir, "nometa.safetensors")
        safetensors.torch.save_file({"a": torch.arange(10.0), "b": torch.ones(2, 2)}, cls.plain)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def test_every_dtype_written(self):
        with open(self.path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        self.assertEqual({v["dtype"] for k, v in header.items() if k != "__metadata__"},
                         set(DTYPES.values()))

    def test_engine_opts_mirror(self):
        # The C struct is 56 bytes (profile_path last); tfs_engine_opts_init must not write past
        # the Python mirror.
        self.assertEqual(ctypes.sizeof(tensorfs._EngineOpts), 56)
        buf = (ctypes.c_uint8 * 72)(*([0xAB] * 72))
        tensorfs._lib.tfs_engine_opts_init(ctypes.cast(buf, ctypes.POINTER(tensorfs._EngineOpts)))
        self.assertEqual(bytes(buf[56:]), b"\xab" * 16)
        o = tensorfs._EngineOpts.from_buffer(buf)
        self.assertEqual((o.progress_fd, o.buffered_io, o.threads, o.profile_path), (-1, 0, 0, None))

    def test_keys_offset_keys_metadata(self):
        with tensorfs.safe_open(self.path, framework="pt") as a, \
                safetensors.safe_open(self.path, framework="pt") as b:
            self.assertEqual(a.keys(), b.keys())
            self.assertEqual(a.offset_keys(), b.offset_keys())
            self.assertEqual(a.metadata(), b.metadata())
            self.assertEqual(a.metadata(), self.meta)
        with tensorfs.safe_open(self.plain, "pt") as a, safetensors.safe_open(self.plain, "pt") as b:
            self.assertEqual(a.metadata(), b.metadata())
            self.assertIsNone(a.metadata())
            self.assertEqual(a.keys(), b.keys())

    def test_get_tensor_every_dtype(self):
        with tensorfs.safe_open(self.path, "pt") as a, safetensors.safe_open(self.path, "pt") as b:
            for k in b.keys():
                same(self, a.get_tensor(k), b.get_tensor(k), k)
                same(self, a.get_tensor(k), self.tensors[k], k)

    def test_load_file_every_dtype(self):
        want = safetensors.torch.load_file(self.path)
        for got in (tensorfs.load_file(self.path), tensorfs.torch.load_file(self.path)):
            self.assertEqual(list(got), list(want))      # offset order, like safetensors
            for k in want:
                same(self, got[k], want[k], k)
        with tensorfs.safe_open(self.path, "pt") as a, safetensors.safe_open(self.path, "pt") as b:
            got, want = a.get_tensors(), b.get_tensors()
            self.assertEqual(list(got), list(want))
            for k in want:
                same(self, got[k], want[k], k)

    def test_slices(self):
        with tensorfs.safe_open(self.path, "pt") as a, safetensors.safe_open(self.path, "pt") as b:
            for k in b.keys():
                sa, sb = a.get_slice(k), b.get_slice(k)
                self.assertEqual(sa.get_shape(), sb.get_shape(), k)
                self.assertEqual(sa.get_dtype(), sb.get_dtype(), k)
                if sb.get_dtype() == "F4":
                    continue    # indexing float4 is refused by torch itself; checked below
                for idx in INDICES:
                    what = "%s%s" % (k, idx)
                    try:
                        want = eval("sb" + idx)
                    except Exception as e:       # safetensors refuses: so must tensorfs
                        with self.assertRaises(type(e), msg=what):
                            eval("sa" + idx)
                        continue
                    same(self, eval("sa" + idx), want, what)

    def test_f4_slice_and_dtype(self):
        k = "m.float4_e2m1fn_x2"
        with tensorfs.safe_open(self.path, "pt") as a, safetensors.safe_open(self.path, "pt") as b:
            self.assertEqual(a.get_slice(k).get_shape(), [11, 12])     # header: values
            t = a.get_tensor(k)
            self.assertEqual((t.dtype, tuple(t.shape)), (torch.float4_e2m1fn_x2, (11, 6)))
            # safetensors 0.8.0's own float4 slice fails ("shape '[11, 12]' is invalid"):
            # compare with its whole tensor instead.
            same(self, a.get_slice(k)[:], b.get_tensor(k), k)
            same(self, a.get_slice(k)[2:5], b.get_tensor(k)[2:5], k)

    def test_numpy(self):
        # numpy dtypes where numpy has them, identical to safetensors' numpy; stand-ins (raw bits)
        # for BF16 (uint16), F8_* (uint8), F4 (uint8, two values a byte).
        stand_in = {"BF16": np.uint16, "F8_E5M2": np.uint8, "F8_E4M3": np.uint8,
                    "F8_E8M0": np.uint8, "F4": np.uint8}
        with tensorfs.safe_open(self.path, "np") as a, safetensors.safe_open(self.path, "np") as b:
            got_all = tensorfs.numpy.load_file(self.path)
            self.assertEqual(list(got_all), a.offset_keys())
            for k in a.keys():
                got = a.get_tensor(k)
                self.assertIsInstance(got, np.ndarray)
                dt = a.get_slice(k).get_dtype()
                if dt in stand_in:
                    self.assertEqual(got.dtype, stand_in[dt], k)
                    self.assertEqual(got.tobytes(), bits(self.tensors[k]), k)
                    self.assertEqual(got.nbytes, self.tensors[k].numel() *
                                     self.tensors[k].element_size(), k)
                else:
                    same(self, got, b.get_tensor(k), k)
                    # In-bounds indices only: safetensors' numpy slices refuse a range past the
                    # end ("index 2 out of bounds"), tensorfs clamps as numpy and torch do.
                    for idx in ("[1:2]", "[:, 1:2]", "[..., 0]", "[::2]", "[-1]"):
                        if got.ndim >= 2 and min(got.shape) >= 2:
                            same(self, eval("a.get_slice(k)" + idx),
                                 eval("b.get_slice(k)" + idx), k + idx)
                self.assertEqual(got_all[k].dtype, got.dtype, k)
                self.assertEqual(got_all[k].tobytes(), got.tobytes(), k)

    def test_slice_reads_only_needed_bytes(self):
        path = os.path.join(self.dir, "big.safetensors")
        big = torch.arange(1000 * 256, dtype=torch.float32).reshape(1000, 256)
        safetensors.torch.save_file({"pad": torch.zeros(3), "big": big}, path)
        row = 256 * 4
        with tensorfs.safe_open(path, "pt", block_size=4096, cache_size=1 << 20) as f:
            s = f.get_slice("big")
            before = f._ck.stats()
            got = s[100:110]
            after = f._ck.stats()
            self.assertTrue(torch.equal(got, big[100:110]))
            self.assertEqual(after["bytes_served"] - before["bytes_served"], 10 * row)
            self.assertLess(after["bytes_from_disk"] - before["bytes_from_disk"], 10 * row + 3 * 4096)
            before = after
            got = s[500:502, 3:7]      # rows 500..501, from column 3 to column 6
            after = f._ck.stats()
            self.assertTrue(torch.equal(got, big[500:502, 3:7]))
            self.assertEqual(after["bytes_served"] - before["bytes_served"], (256 + 4) * 4)
            before = after
            got = s[:, 7]               # a column: the span from row 0 to row 999
            after = f._ck.stats()
            self.assertTrue(torch.equal(got, big[:, 7]))
            self.assertEqual(after["bytes_served"] - before["bytes_served"], (999 * 256 + 1) * 4)

    def test_torch_nn_state_dict_round_trip(self):
        torch.manual_seed(3)
        model = torch.nn.Sequential(
            torch.nn.Embedding(50, 16), torch.nn.Linear(16, 32), torch.nn.LayerNorm(32),
            torch.nn.Linear(32, 8, bias=False))
        conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        conv(torch.randn(2, 3, 8, 8))       # running stats and num_batches_tracked (int64)
        for m in (model, conv):
            sd = {k: v.contiguous() for k, v in m.state_dict().items()}
            path = os.path.join(self.dir, "nn.safetensors")
            safetensors.torch.save_file(sd, path)
            loaded = tensorfs.load_file(path)
            clone = _fresh_like(m)
            clone.load_state_dict(loaded, strict=True)
            for k, v in m.state_dict().items():
                same(self, clone.state_dict()[k], v, k)
            clone2 = _fresh_like(m)
            with tensorfs.safe_open(path, framework="pt", device="cpu") as f:
                clone2.load_state_dict({k: f.get_tensor(k) for k in f.keys()}, strict=True)
            for k, v in m.state_dict().items():
                same(self, clone2.state_dict()[k], v, k)
            clone.eval(), m.eval()
            x = torch.randint(0, 50, (3, 5)) if m is model else torch.randn(1, 3, 8, 8)
            self.assertTrue(torch.equal(clone(x), m(x)))

    def test_sharded_folder(self):
        folder = os.path.join(self.dir, "sharded")
        os.mkdir(folder)
        names = sorted(self.tensors)
        halves = [names[: len(names) // 2], names[len(names) // 2:]]
        weight_map = {}
        for i, part in enumerate(halves):
            fname = "model-%05d-of-00002.safetensors" % (i + 1)
            safetensors.torch.save_file({k: self.tensors[k] for k in part},
                                        os.path.join(folder, fname),
                                        metadata={"format": "pt", "shard": str(i)})
            weight_map.update({k: fname for k in part})
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
        got = tensorfs.load_file(folder)
        self.assertEqual(sorted(got), names)
        with tensorfs.safe_open(folder, "pt") as a:
            self.assertEqual(a.layout, "sharded")
            self.assertEqual(a.keys(), names)
            self.assertEqual(a.metadata(), {"format": "pt", "shard": "0"})   # first shard wins
            for k in names:
                same(self, got[k], self.tensors[k], k)
                same(self, a.get_tensor(k), self.tensors[k], k)

    def test_exact_selection_of_odd_names(self):
        # get_tensor on a GPU and load_file(select=) go through tfs_load with a glob: names with
        # glob characters must select themselves only.
        path = os.path.join(self.dir, "odd.safetensors")
        names = ["w[0]", "w0", "a*", "ab", "q?", "qx", "back\\slash", "back\\x"]
        tensors = {n: torch.full((2,), float(i)) for i, n in enumerate(names)}
        safetensors.torch.save_file(tensors, path)
        with tensorfs.safe_open(path, "pt") as f:
            for n in names:
                got = f._load([n])
                self.assertEqual(list(got), [n])
                self.assertTrue(torch.equal(got[n], tensors[n]), n)

    def test_errors(self):
        with tensorfs.safe_open(self.path, "pt") as f:
            with self.assertRaises(KeyError) as cm:
                f.get_tensor("no.such.tensor")
            self.assertIn("no.such.tensor", str(cm.exception))
            self.assertIn(self.path, str(cm.exception))
            with self.assertRaises(KeyError):
                f.get_slice("no.such.tensor")
        with self.assertRaises(tensorfs.TensorfsError):
            f.get_tensor("m.float32")            # closed
        missing = os.path.join(self.dir, "missing.safetensors")
        with self.assertRaises(OSError) as cm:
            tensorfs.safe_open(missing, "pt")
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertIn("missing.safetensors", str(cm.exception))
        with self.assertRaises(ValueError):
            tensorfs.safe_open(self.path, framework="jax")
        with self.assertRaises(ValueError):
            tensorfs.safe_open(self.path, framework="np", device="cuda:0")
        # Bad checkpoints: safetensors refuses them, tensorfs too, naming the file.
        with open(self.path, "rb") as f:
            good = f.read()
        n = struct.unpack("<Q", good[:8])[0]
        header = json.loads(good[8:8 + n])
        overlap = dict(header)
        first = next(k for k in header if k != "__metadata__" and header[k]["data_offsets"][1] > 8)
        overlap[first] = dict(header[first], data_offsets=[0, header[first]["data_offsets"][1] + 8])
        hb = json.dumps(overlap).encode()
        bad = {"truncated.safetensors": good[: len(good) - 5],
               "notjson.safetensors": struct.pack("<Q", 16) + b"{not json at all" + b"\0" * 64,
               "hugelen.safetensors": struct.pack("<Q", 1 << 40) + b"{}",
               "overlap.safetensors": struct.pack("<Q", len(hb)) + hb + good[8 + n:]}
        for fname, blob in bad.items():
            p = os.path.join(self.dir, fname)
            with open(p, "wb") as f:
                f.write(blob)
            with self.assertRaises(Exception, msg=fname):
                with safetensors.safe_open(p, "pt") as g:
                    for k in g.keys():
                        g.get_tensor(k)
            with self.assertRaises(tensorfs.TensorfsError, msg=fname) as cm:
                tensorfs.safe_open(p, "pt")
            self.assertIn(fname, str(cm.exception))
            with self.assertRaises(tensorfs.TensorfsError, msg=fname):
                tensorfs.load_file(p)


def _fresh_like(m):
    """A module of the same architecture with different (default-initialised) parameters."""
    torch.manual_seed(99)
    if isinstance(m[0], torch.nn.Embedding):
        return torch.nn.Sequential(
            torch.nn.Embedding(50, 16), torch.nn.Linear(16, 32), torch.nn.LayerNorm(32),
            torch.nn.Linear(32, 8, bias=False))
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


if __name__ == "__main__":
    unittest.main()
