"""The ctypes mirrors of python/tensorfs against the library's own struct sizes (tfs_struct_size):
a drifted mirror must be refused at import with a message naming the struct, never used."""
import ctypes
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import tensorfs  # noqa: E402


class _OldEngineOpts(ctypes.Structure):
    """struct tfs_engine_opts as the module once mirrored it: without buffered_io (40 bytes)."""
    _fields_ = [("threads", ctypes.c_uint), ("block_size", ctypes.c_uint64),
                ("cache_bytes", ctypes.c_uint64), ("readahead_bytes", ctypes.c_uint64),
                ("strategy", ctypes.c_int), ("progress_fd", ctypes.c_int)]


class AbiTest(unittest.TestCase):
    def test_mirrors_match(self):
        for name, cls in tensorfs._MIRRORS.items():
            self.assertEqual(tensorfs._lib.tfs_struct_size(name.encode()), ctypes.sizeof(cls), name)
        tensorfs._check_abi(tensorfs._lib)

    def test_unknown_struct_is_zero(self):
        self.assertEqual(tensorfs._lib.tfs_struct_size(b"tfs_nonesuch"), 0)
        self.assertEqual(tensorfs._lib.tfs_struct_size(None), 0)

    def test_wrong_mirror_refused(self):
        mirrors = dict(tensorfs._MIRRORS, tfs_engine_opts=_OldEngineOpts)
        with self.assertRaises(ImportError) as cm:
            tensorfs._check_abi(tensorfs._lib, mirrors)
        msg = str(cm.exception)
        self.assertIn("struct tfs_engine_opts is %d bytes there, %d here"
                      % (ctypes.sizeof(tensorfs._EngineOpts), ctypes.sizeof(_OldEngineOpts)), msg)
        self.assertIn("does not match this Python module", msg)

    def test_import_refuses_drifted_module(self):
        """The whole import path: a module whose mirror lost a field does not import."""
        src = os.path.join(os.path.dirname(tensorfs.__file__), "__init__.py")
        with open(src) as f:
            text = f.read()
        head = "class _EngineOpts(ctypes.Structure):\n    _fields_ = ["
        self.assertIn(head, text)
        drifted = text.replace(head, head + '("drifted", ctypes.c_uint64), ')
        code = ("import sys, types; m = types.ModuleType('tensorfs'); m.__file__ = %r; "
                "sys.modules['tensorfs'] = m; exec(compile(sys.stdin.read(), %r, 'exec'), "
                "m.__dict__)" % (src, src))
        p = subprocess.run([sys.executable, "-c", code], input=drifted, capture_output=True,
                           text=True, env=dict(os.environ), timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ImportError: tensorfs:", p.stderr)
        self.assertIn("struct tfs_engine_opts is %d bytes there, %d here"
                      % (ctypes.sizeof(tensorfs._EngineOpts), ctypes.sizeof(tensorfs._EngineOpts) + 8),
                      p.stderr)


if __name__ == "__main__":
    unittest.main()
