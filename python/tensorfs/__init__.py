"""tensorfs - load safetensors checkpoints into torch or numpy through libtensorfs, without copies.

    import tensorfs
    weights = tensorfs.load("llama-7b", device="cuda:0")               # {name: torch.Tensor}
    part = tensorfs.load("llama-7b", select=["model.layers.0.*"])        # globs on tensor names
    split = tensorfs.load("llama-7b", device_map={"model.layers.0": 0, "lm_head": "cpu"})
    arrays = tensorfs.load_numpy("model.safetensors")                  # {name: numpy.ndarray}

safetensors-compatible calls (tensorfs/safe.py; README.md, "Python"):
    sd = tensorfs.load_file("llama-7b")                                 # like safetensors.torch.load_file
    with tensorfs.safe_open("llama-7b", framework="pt") as f:          # keys, get_tensor, get_slice, metadata
        rows = f.get_slice("model.embed_tokens.weight")[100:200]

A thin ctypes layer over libtensorfs.so (standard library only; torch or numpy is imported when
used). libtensorfs reads the selected tensors through its block cache into host memory or CUDA
memory and hands each one over as a DLPack DLManagedTensor; this module wraps that pointer in a
PyCapsule named "dltensor" and gives it to torch.utils.dlpack.from_dlpack / numpy.from_dlpack,
which take ownership: the memory is freed when the last tensor of its arena dies (one arena per
device per load), whether or not the Checkpoint is still open.

Device map rules (the same as `tensorfs load --map`, see include/tensorfs.h): a key matches a tensor
when the tensor name equals it or starts with it followed by "." or "/"; the longest matching key
wins; "" matches everything; values are a GPU index, "cuda:N", "cuda", "cpu" or "disk"; tensors
matched by no key, and "disk" ones, are not loaded.

dtypes: every safetensors dtype loads. torch: BOOL arrives as torch.bool (torch 1.13 has no DLPack
bool code, so it is exported as uint8 and viewed as bool, no copy); F8_E4M3/F8_E5M2/F8_E8M0 as
torch.float8_* when this torch has them, else as raw torch.uint8; U16/U32/U64 as torch.uint16/32/64
when this torch has them (2.3+), else as int16/int32/int64 holding the same bits; F4/F6_* raise
(packed sub-byte types that DLPack consumers refuse). numpy: BF16 arrives as raw uint16 bits and F8_* as raw uint8
(numpy has neither dtype), BOOL as numpy.bool_, the rest as their numpy dtype.

The library is found through the environment variable TENSORFS_LIB (a path to libtensorfs.so),
else ../build/libtensorfs.so beside this package's folder (a source checkout), else the system
library path.
"""
import ctypes
import ctypes.util
import json
import os

__all__ = ["load", "load_numpy", "Checkpoint", "TensorfsError", "cuda_device_count", "safe_open",
           "load_file", "SafeSlice"]

# ---- the C ABI (include/tensorfs.h, include/dlpack/dlpack.h) ------------------------------------

_DEVICE_DISK, _DEVICE_CPU, _DEVICE_CUDA = 0, 1, 2
_STRATEGY_LAZY = 0
kDLCPU, kDLCUDA = 1, 2
kDLInt, kDLUInt, kDLFloat, kDLBfloat, kDLComplex, kDLBool = 0, 1, 2, 4, 5, 6
# enum tfs_dtype values whose DLPack form needs help (tensorfs.h lists the enum).
_DT = {"BOOL": 0, "F4": 1, "F6_E2M3": 2, "F6_E3M2": 3, "F8_E5M2": 6, "F8_E4M3": 7, "F8_E8M0": 8,
       "U16": 10, "BF16": 12, "U32": 14, "U64": 19}
_DT_NAME = {v: k for k, v in _DT.items()}


class _Error(ctypes.Structure):
    _fields_ = [("msg", ctypes.c_char * 512)]


class _Device(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("index", ctypes.c_int)]


class _EngineOpts(ctypes.Structure):
    _fields_ = [("threads", ctypes.c_uint), ("block_size", ctypes.c_uint64),
                ("cache_bytes", ctypes.c_uint64), ("readahead_bytes", ctypes.c_uint64),
                ("strategy", ctypes.c_int), ("progress_fd", ctypes.c_int),
                ("buffered_io", ctypes.c_int), ("profile_path", ctypes.c_char_p)]


class _File(ctypes.Structure):
    _fields_ = [("path", ctypes.c_char_p), ("rel", ctypes.c_char_p), ("size", ctypes.c_uint64),
                ("mtime_ns", ctypes.c_int64), ("dev", ctypes.c_uint64), ("ino", ctypes.c_uint64),
                ("mode", ctypes.c_uint32), ("is_shard", ctypes.c_int),
                ("data_start", ctypes.c_uint64), ("n_meta", ctypes.c_size_t),
                ("meta_keys", ctypes.POINTER(ctypes.c_char_p)),
                ("meta_vals", ctypes.POINTER(ctypes.c_char_p))]


class _Tensor(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("name", ctypes.c_char_p),
                ("component", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("ndim", ctypes.c_uint32), ("shape", ctypes.POINTER(ctypes.c_uint64)),
                ("file", ctypes.c_uint32), ("offset", ctypes.c_uint64), ("length", ctypes.c_uint64)]


class _LoadOpts(ctypes.Structure):
    _fields_ = [("device", _Device), ("threads", ctypes.c_uint),
                ("staging_buffers", ctypes.c_uint), ("staging_bytes", ctypes.c_uint64),
                ("streams", ctypes.c_uint), ("per_tensor", ctypes.c_int),
                ("staging_only", ctypes.c_int), ("through_cache", ctypes.c_int)]


class _Loaded(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_uint32),
                ("shape", ctypes.POINTER(ctypes.c_uint64)), ("device", _Device),
                ("data", ctypes.c_void_p), ("length", ctypes.c_uint64),
                ("file", ctypes.c_uint32), ("offset", ctypes.c_uint64)]


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", _Deleter)]


class TensorfsError(OSError):
    """A libtensorfs failure: .errno is the positive errno, str() the library's message."""


def _find_lib():
    env = os.environ.get("TENSORFS_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "build", "libtensorfs.so"),
                 os.path.join(here, "..", "..", "build", "libtensorfs.so")):
        if os.path.exists(cand):
            return os.path.normpath(cand)
    found = ctypes.util.find_library("tensorfs")
    if not found:
        raise ImportError("tensorfs: libtensorfs.so not found: set TENSORFS_LIB or run make")
    return found


def _bind(lib):
    P, vp, i = ctypes.POINTER, ctypes.c_void_p, ctypes.c_int
    err = P(_Error)
    sigs = {
        "tfs_catalog_open": (i, [ctypes.c_char_p, P(vp), err]),
        "tfs_catalog_close": (None, [vp]),
        "tfs_catalog_layout": (ctypes.c_char_p, [vp]),
        "tfs_catalog_tensor_count": (ctypes.c_size_t, [vp]),
        "tfs_catalog_tensor": (P(_Tensor), [vp, ctypes.c_size_t]),
        "tfs_catalog_find": (P(_Tensor), [vp, ctypes.c_char_p]),
        "tfs_catalog_file_count": (ctypes.c_size_t, [vp]),
        "tfs_catalog_file": (P(_File), [vp, ctypes.c_size_t]),
        "tfs_dtype_name": (ctypes.c_char_p, [i]),
        "tfs_dtype_block": (i, [i, P(ctypes.c_uint32), P(ctypes.c_uint32)]),
        "tfs_catalog_metadata_json": (ctypes.c_char_p, [vp]),
        "tfs_engine_read": (ctypes.c_ssize_t, [vp, vp, ctypes.c_uint32, ctypes.c_uint64, vp,
                                               ctypes.c_size_t, err]),
        "tfs_stream_open": (vp, [vp]),
        "tfs_stream_close": (None, [vp]),
        "tfs_stream_set_extent": (None, [vp, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_uint64]),
        "tfs_engine_opts_init": (None, [P(_EngineOpts)]),
        "tfs_engine_open": (i, [vp, P(_EngineOpts), P(vp), err]),
        "tfs_engine_close": (None, [vp]),
        "tfs_engine_stats": (None, [vp, vp]),
        "tfs_stats_json": (i, [vp, ctypes.c_char_p, ctypes.c_size_t]),
        "tfs_device_parse": (i, [ctypes.c_char_p, P(_Device), err]),
        "tfs_cuda_device_count": (i, [err]),
        "tfs_selection_new": (i, [P(vp), err]),
        "tfs_selection_free": (None, [vp]),
        "tfs_selection_add_glob": (i, [vp, ctypes.c_char_p, err]),
        "tfs_selection_load_map": (i, [vp, ctypes.c_char_p, err]),
        "tfs_selection_set_map_json": (i, [vp, ctypes.c_char_p, ctypes.c_char_p, err]),
        "tfs_load_opts_init": (None, [P(_LoadOpts)]),
        "tfs_load": (i, [vp, vp, vp, P(_LoadOpts), P(vp), err]),
        "tfs_load_count": (ctypes.c_size_t, [vp]),
        "tfs_load_get": (P(_Loaded), [vp, ctypes.c_size_t]),
        "tfs_load_take": (vp, [vp, ctypes.c_size_t]),
        "tfs_load_free": (None, [vp]),
        "tfs_load_verify": (i, [vp, vp, err]),
        "tfs_load_report": (vp, [vp]),
        "tfs_load_report_json": (i, [vp, ctypes.c_char_p, ctypes.c_size_t]),
        "tfs_struct_size": (ctypes.c_size_t, [ctypes.c_char_p]),
    }
    if not hasattr(lib, "tfs_struct_size"):
        raise ImportError("tensorfs: %s predates tfs_struct_size, so its struct layouts cannot be "
                          "checked against this module: rebuild libtensorfs" % lib._name)
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


# Every struct mirrored above, by its C name. The library reports its own sizes (tfs_struct_size);
# a library whose structs differ from these mirrors is refused at import, since calls such as
# tfs_engine_opts_init would otherwise write past a buffer this module allocated.
_MIRRORS = {"tfs_error": _Error, "tfs_device": _Device, "tfs_engine_opts": _EngineOpts,
            "tfs_file": _File, "tfs_tensor": _Tensor, "tfs_load_opts": _LoadOpts,
            "tfs_loaded": _Loaded}
_STATS_BYTES = 1024     # Checkpoint.stats passes struct tfs_stats as an opaque buffer of this size


def _check_abi(lib, mirrors=None):
    """Raises ImportError naming each struct whose size differs between lib and this module."""
    bad = []
    for name, cls in (mirrors or _MIRRORS).items():
        have = lib.tfs_struct_size(name.encode())
        if have != ctypes.sizeof(cls):
            bad.append("struct %s is %d bytes there, %d here" % (name, have, ctypes.sizeof(cls)))
    stats = lib.tfs_struct_size(b"tfs_stats")
    if not 0 < stats <= _STATS_BYTES:
        bad.append("struct tfs_stats is %d bytes there, at most %d here" % (stats, _STATS_BYTES))
    if bad:
        raise ImportError("tensorfs: %s does not match this Python module (%s): use the library "
                          "built from the same checkout" % (lib._name, "; ".join(bad)))


_lib = _bind(ctypes.CDLL(_find_lib()))
_check_abi(_lib)

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype, _capsule_new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p,
                                                                 ctypes.c_void_p]
_capsule_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_valid.restype, _capsule_valid.argtypes = ctypes.c_int, [ctypes.py_object, ctypes.c_char_p]
_DLTENSOR = b"dltensor"   # module-level: a capsule keeps a pointer to its name


def _check(rc, err):
    if rc < 0:
        raise TensorfsError(-rc, err.msg.decode("utf-8", "replace"))
    return rc


def cuda_device_count():
    """CUDA devices libtensorfs can use; 0 without the CUDA plugin (a build without nvcc) or when it finds none."""
    err = _Error()
    n = _lib.tfs_cuda_device_count(ctypes.byref(err))
    return max(n, 0)


def _delete(ptr):
    _DLManagedTensor.from_address(ptr).deleter(ptr)


def _hand_over(ptr, consume):
    """Wraps DLManagedTensor* ptr (owned by us) in a "dltensor" capsule and calls consume(capsule).
    The consumer owns ptr once it renamed the capsule; if it did not, ptr is deleted here."""
    capsule = _capsule_new(ptr, _DLTENSOR, None)
    try:
        return consume(capsule)
    finally:
        if _capsule_valid(capsule, _DLTENSOR):
            _delete(ptr)


def _f4_as_bytes(ptr, key):
    """F4 (kDLUInt 4, two values a byte) re-described as uint8 with the last dimension halved,
    in place before hand-over: the bytes safetensors shows as torch.float4_e2m1fn_x2."""
    dl = _DLManagedTensor.from_address(ptr).dl_tensor
    if dl.ndim == 0 or dl.shape[dl.ndim - 1] % 2:
        _delete(ptr)
        raise TensorfsError(22, "%s: F4 tensor with an odd last dimension" % key)
    dl.shape[dl.ndim - 1] //= 2
    if dl.strides:
        s = 1
        for d in range(dl.ndim - 1, -1, -1):
            dl.strides[d] = s
            s *= dl.shape[d]
    dl.dtype.code, dl.dtype.bits = kDLUInt, 8


def _retag(ptr, code, bits):
    """Changes the DLPack dtype before hand-over, for consumers that lack the real code."""
    dt = _DLManagedTensor.from_address(ptr).dl_tensor.dtype
    dt.code, dt.bits = code, bits


class _NumpyExport:
    """numpy.from_dlpack wants an object with __dlpack__ / __dlpack_device__, not a capsule."""

    def __init__(self, capsule, device):
        self.capsule, self.device = capsule, device

    def __dlpack__(self, stream=None):
        return self.capsule

    def __dlpack_device__(self):
        return self.device


def _device_arg(device):
    if isinstance(device, int):
        device = "cuda:%d" % device
    dev, err = _Device(), _Error()
    _check(_lib.tfs_device_parse(str(device).encode(), ctypes.byref(dev), ctypes.byref(err)), err)
    return dev


class Checkpoint:
    """An open checkpoint: its catalog and an engine (reader threads + block cache).

    threads, cache_size, block_size: engine options (None = the library's defaults). The engine
    runs lazily: a load reads only the bytes of the tensors it selects."""

    def __init__(self, path, threads=None, cache_size=None, block_size=None):
        self._cat, self._eng = ctypes.c_void_p(), ctypes.c_void_p()
        self.last_report = None
        err, opts = _Error(), _EngineOpts()
        _check(_lib.tfs_catalog_open(os.fsencode(path), ctypes.byref(self._cat),
                                     ctypes.byref(err)), err)
        _lib.tfs_engine_opts_init(ctypes.byref(opts))
        opts.strategy = _STRATEGY_LAZY
        opts.threads = threads or 0
        opts.cache_bytes = cache_size or 0
        opts.block_size = block_size or 0
        try:
            _check(_lib.tfs_engine_open(self._cat, ctypes.byref(opts), ctypes.byref(self._eng),
                                        ctypes.byref(err)), err)
        except BaseException:
            self.close()
            raise

    def close(self):
        """Closes the engine and catalog. Tensors already loaded stay valid."""
        if self._eng:
            _lib.tfs_engine_close(self._eng)
            self._eng = ctypes.c_void_p()
        if self._cat:
            _lib.tfs_catalog_close(self._cat)
            self._cat = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def stats(self):
        """The engine's counters (bytes_from_disk, cache_hits, ...) as a dict."""
        st, buf = ctypes.create_string_buffer(_STATS_BYTES), ctypes.create_string_buffer(8192)
        _lib.tfs_engine_stats(self._eng, st)
        if _lib.tfs_stats_json(st, buf, len(buf)) < 0:
            raise TensorfsError(28, "stats: JSON does not fit")
        return json.loads(buf.value.decode())

    def _load(self, device, select, device_map, verify, opts):
        err, lo = _Error(), _LoadOpts()
        sel, res = ctypes.c_void_p(), ctypes.c_void_p()
        _lib.tfs_load_opts_init(ctypes.byref(lo))
        lo.device = _device_arg(device)
        for k, v in opts.items():
            setattr(lo, k, v)
        _check(_lib.tfs_selection_new(ctypes.byref(sel), ctypes.byref(err)), err)
        try:
            if isinstance(select, str):
                select = [select]
            for g in select or ():
                _check(_lib.tfs_selection_add_glob(sel, g.encode(), ctypes.byref(err)), err)
            if isinstance(device_map, (str, os.PathLike)):
                _check(_lib.tfs_selection_load_map(sel, os.fsencode(device_map),
                                                   ctypes.byref(err)), err)
            elif device_map is not None:
                text = json.dumps({str(k): v for k, v in device_map.items()})
                _check(_lib.tfs_selection_set_map_json(sel, text.encode(), b"device_map",
                                                       ctypes.byref(err)), err)
            _check(_lib.tfs_load(self._cat, self._eng, sel, ctypes.byref(lo), ctypes.byref(res),
                                 ctypes.byref(err)), err)
        finally:
            _lib.tfs_selection_free(sel)
        try:
            buf = ctypes.create_string_buffer(1 << 16)
            if _lib.tfs_load_report_json(_lib.tfs_load_report(res), buf, len(buf)) >= 0:
                self.last_report = json.loads(buf.value.decode())
            if verify:
                _check(_lib.tfs_load_verify(self._eng, res, ctypes.byref(err)), err)
        except BaseException:
            _lib.tfs_load_free(res)
            raise
        return res

    def _each(self, res, convert):
        """Takes every tensor out of result res, converts it, frees the result."""
        out = {}
        try:
            for i in range(_lib.tfs_load_count(res)):
                it = _lib.tfs_load_get(res, i).contents
                key, dtype = it.key.decode(), it.dtype
                ptr = _lib.tfs_load_take(res, i)
                out[key] = convert(ptr, dtype, key)
        finally:
            _lib.tfs_load_free(res)     # tensors taken are unaffected
        return out

    def load(self, device="cpu", select=None, device_map=None, verify=False, **opts):
        """Loads tensors as {key: torch.Tensor} on `device` ("cpu", "cuda:N", N, torch.device).
        select: a glob or a list of globs; device_map: a dict or the path of a JSON file.
        verify: check every tensor's XXH3 against the file. opts: tfs_load_opts fields
        (threads, staging_buffers, staging_bytes, streams, per_tensor, staging_only,
        through_cache).
        Report: .last_report."""
        import torch
        from torch.utils import dlpack as tdl

        # Viewed after import, no copy: float8 is raw uint8 in DLPack v1.0; torch < 2.3 imports
        # no unsigned type wider than 8 bits, so those cross as signed ints of the same bits.
        views = {"F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
                 "U16": "uint16", "U32": "uint32", "U64": "uint64"}

        f4 = opts.pop("_f4", False) and hasattr(torch, "float4_e2m1fn_x2")

        def convert(ptr, dtype, key):
            name = _DT_NAME.get(dtype)
            if name == "F4" and f4:
                _f4_as_bytes(ptr, key)
                return _hand_over(ptr, tdl.from_dlpack).view(torch.float4_e2m1fn_x2)
            if name in ("F4", "F6_E2M3", "F6_E3M2"):
                _delete(ptr)
                raise TensorfsError(95, "%s: %s has no torch dtype" % (key, name))
            if name == "BOOL":
                _retag(ptr, kDLUInt, 8)
            elif name in ("U16", "U32", "U64"):
                _retag(ptr, kDLInt, int(name[1:]))
            t = _hand_over(ptr, tdl.from_dlpack)
            if name == "BOOL":
                t = t.view(torch.bool)
            elif name in views and hasattr(torch, views[name]):
                t = t.view(getattr(torch, views[name]))
            return t

        return self._each(self._load(device, select, device_map, verify, opts), convert)

    def load_numpy(self, select=None, device_map=None, verify=False, **opts):
        """Loads tensors into host memory as {key: numpy.ndarray} (numpy.from_dlpack, no copy).
        BF16 comes as raw uint16 bits, F8_* as raw uint8 (numpy has no such dtypes). A device_map
        may only use "cpu" and "disk": numpy refuses GPU memory."""
        import numpy
        f4 = opts.pop("_f4", False)

        def convert(ptr, dtype, key):
            name = _DT_NAME.get(dtype)
            if name == "F4" and f4:
                _f4_as_bytes(ptr, key)
                name = "U8"
            if name in ("F4", "F6_E2M3", "F6_E3M2"):
                _delete(ptr)
                raise TensorfsError(95, "%s: %s has no numpy dtype" % (key, name))
            if name == "BF16":
                _retag(ptr, kDLUInt, 16)
            elif name == "BOOL":
                _retag(ptr, kDLUInt, 8)
            dev = _DLManagedTensor.from_address(ptr).dl_tensor.device
            where = (dev.device_type, dev.device_id)
            a = _hand_over(ptr, lambda c: numpy.from_dlpack(_NumpyExport(c, where)))
            return a.view(numpy.bool_) if name == "BOOL" else a

        return self._each(self._load("cpu", select, device_map, verify, opts), convert)


def load(path, device="cpu", select=None, device_map=None, **kw):
    """Opens path, loads {key: torch.Tensor}, closes it (the tensors stay). See Checkpoint.load."""
    if device_map is not None or _device_arg(device).type == _DEVICE_CUDA:
        # Start CUDA (libtensorfs' plugin) before the engine, so its cache pins blocks with
        # cudaHostAlloc and GPUs copy straight from them; failures are reported by the load.
        _lib.tfs_cuda_device_count(None)
    with Checkpoint(path) as ck:
        return ck.load(device=device, select=select, device_map=device_map, **kw)


def load_numpy(path, select=None, device_map=None, **kw):
    """Opens path, loads {key: numpy.ndarray} into host memory, closes it. See
    Checkpoint.load_numpy."""
    with Checkpoint(path) as ck:
        return ck.load_numpy(select=select, device_map=device_map, **kw)


from .safe import safe_open, load_file, SafeSlice   # noqa: E402  (safetensors-style API)
from . import numpy, torch                          # noqa: E402  tensorfs.numpy/.torch.load_file
