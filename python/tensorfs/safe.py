"""safetensors-compatible front end: tensorfs.safe_open, tensorfs.load_file, get_slice.

    from tensorfs import safe_open, load_file
    with safe_open("llama-7b", framework="pt", device="cpu") as f:     # file, sharded or diffusers folder
        for k in f.keys():
            t = f.get_tensor(k)
        rows = f.get_slice("model.embed_tokens.weight")[100:200]       # reads only those rows
    sd = load_file("llama-7b")                                          # {key: torch.Tensor}

Behaves like safetensors.safe_open / safetensors.torch.load_file for the same files (keys sorted,
offset_keys() in file order, metadata() the __metadata__ map, get_dtype() the header's dtype
string, get_shape() the header's shape), with these differences:
 - path may also be a sharded folder (model.safetensors.index.json) or a diffusers folder
   (model_index.json); then keys are the catalog's keys ("component/name" in a diffusers folder) and
   metadata() is the union of the shards' __metadata__ maps (first shard wins on a clash).
 - every byte comes through the libtensorfs engine (block cache, readahead per safe_open handle):
   get_tensor on the CPU is one engine read into the new tensor's memory; get_tensor on a GPU,
   get_tensors() and load_file() go through tfs_load (tensors handed over with DLPack, no copy).
 - an unknown name raises KeyError (safetensors raises SafetensorError); a bad checkpoint raises
   TensorfsError (an OSError) whose message names the file.
 - F8_E4M3FNUZ / F8_E5M2FNUZ (safetensors extensions outside the spec) are refused by the catalog.
dtypes, framework="pt": every spec dtype as safetensors gives it (F8_* as torch.float8_*,
U16/U32/U64 as torch.uint16/32/64, F4 as torch.float4_e2m1fn_x2 with the last dimension halved,
since each byte holds two values); F6_* raise. framework="np": numpy's own dtype where it has one;
stand-ins holding the raw bits where it has not: BF16 -> uint16, F8_* -> uint8, F4 -> uint8 (two
values a byte, last dimension halved); F6_* raise.
GGUF (a .gguf file or the first of a split set): F32/F16/BF16/F64/I8..I64 arrive typed; ggml's
block-quantized types (Q4_K, IQ4_XS, ...) arrive as uint8 [n_blocks, block_bytes], with get_dtype()
the ggml type name and get_block(name) its (elements, bytes) per block.
"""
import ctypes
import os
import threading

from . import (_lib, _Error, _check, _DT, _DT_NAME, _device_arg, _DEVICE_CPU, Checkpoint,
               TensorfsError)

__all__ = ["safe_open", "load_file", "SafeSlice"]

_SUBBYTE = ("F6_E2M3", "F6_E3M2")
_TORCH = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "F8_E5M2": "float8_e5m2",
          "F8_E4M3": "float8_e4m3fn", "F8_E8M0": "float8_e8m0fnu", "I16": "int16",
          "U16": "uint16", "F16": "float16", "BF16": "bfloat16", "I32": "int32", "U32": "uint32",
          "F32": "float32", "C64": "complex64", "F64": "float64", "I64": "int64", "U64": "uint64",
          "F4": "float4_e2m1fn_x2"}
_NUMPY = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "F8_E5M2": "uint8", "F8_E4M3": "uint8",
          "F8_E8M0": "uint8", "I16": "<i2", "U16": "<u2", "F16": "<f2", "BF16": "<u2",
          "I32": "<i4", "U32": "<u4", "F32": "<f4", "C64": "<c8", "F64": "<f8", "I64": "<i8",
          "U64": "<u8", "F4": "uint8"}
_FRAMEWORKS = {"pt": "pt", "torch": "pt", "pytorch": "pt", "np": "np", "numpy": "np"}


def _glob_exact(key):
    """A glob that fnmatch(3) matches against `key` only (backslash escapes, flags 0)."""
    return "".join("\\" + c if c in "\\*?[" else c for c in key)


class _Info:
    """One catalog tensor, copied out of the C struct."""
    __slots__ = ("key", "dtype", "shape", "file", "offset", "length", "block")

    def __init__(self, t):
        self.key = t.key.decode()
        self.dtype = _DT_NAME.get(t.dtype) or _lib.tfs_dtype_name(t.dtype).decode()
        be, bb = ctypes.c_uint32(), ctypes.c_uint32()
        # (elements, bytes) per block for ggml's block-quantized types, else None
        self.block = ((be.value, bb.value) if _lib.tfs_dtype_block(t.dtype, ctypes.byref(be),
                                                                    ctypes.byref(bb)) else None)
        self.shape = [t.shape[i] for i in range(t.ndim)]
        self.file, self.offset, self.length = t.file, t.offset, t.length


class safe_open:
    """Opens a checkpoint like safetensors.safe_open(path, framework, device).

    framework: "pt" (torch) or "np" (numpy); device: "cpu", "cuda:N", an int N or a torch.device
    (numpy: cpu only). Usable with or without `with`; close() releases the engine and catalog.
    Engine options: threads, cache_size, block_size (None = libtensorfs defaults)."""

    def __init__(self, filename, framework="pt", device="cpu", *, threads=None, cache_size=None,
                 block_size=None):
        fw = _FRAMEWORKS.get(str(framework).lower())
        if fw is None:
            raise ValueError("tensorfs.safe_open: framework %r is not supported (pt or np)"
                             % (framework,))
        self._fw = fw
        self._path = os.fspath(filename)
        if isinstance(device, int):
            device = "cuda:%d" % device
        self._device = str(device)
        dev = _device_arg(self._device)
        if fw == "np" and dev.type != _DEVICE_CPU:
            raise ValueError("tensorfs.safe_open: numpy tensors live on the cpu, not %s"
                             % self._device)
        self._on_cpu = dev.type == _DEVICE_CPU
        self._ck = Checkpoint(self._path, threads=threads, cache_size=cache_size,
                              block_size=block_size)
        cat = self._ck._cat
        self._infos = [_Info(_lib.tfs_catalog_tensor(cat, i).contents)
                       for i in range(_lib.tfs_catalog_tensor_count(cat))]
        self._by_key = {i.key: i for i in self._infos}
        meta, any_meta = {}, False
        for i in range(_lib.tfs_catalog_file_count(cat)):
            f = _lib.tfs_catalog_file(cat, i).contents
            if not f.is_shard:
                continue
            if f.n_meta:
                any_meta = True
            for j in range(f.n_meta):
                meta.setdefault(f.meta_keys[j].decode(), f.meta_vals[j].decode())
        self._meta = meta if any_meta else None
        self._layout = _lib.tfs_catalog_layout(cat).decode()
        self._stream = ctypes.c_void_p(_lib.tfs_stream_open(self._ck._eng))
        self._stream_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self):
        if getattr(self, "_stream", None):
            _lib.tfs_stream_close(self._stream)
            self._stream = None
        if getattr(self, "_ck", None) is not None:
            self._ck.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _live(self):
        if not self._ck._eng:
            raise TensorfsError(9, "%s: safe_open handle is closed" % self._path)

    # -- names and metadata ---------------------------------------------------------------------
    def keys(self):
        """Tensor keys, sorted (as safetensors sorts them)."""
        return sorted(self._by_key)

    def offset_keys(self):
        """Tensor keys in the order of their bytes on disk (file, then offset)."""
        return [i.key for i in self._infos]

    def metadata(self):
        """The __metadata__ map (str -> str), or None when the header has none. GGUF: its
        key/values, strings as they are and other values as JSON text ("32", "[1, 2]")."""
        return None if self._meta is None else dict(self._meta)

    def file_metadata(self):
        """Every file's metadata with its JSON types kept: {file: {key: value}} (GGUF arrays such
        as tokenizer.ggml.tokens as lists), as .tensorfs/metadata.json shows it."""
        import json
        return json.loads(_lib.tfs_catalog_metadata_json(self._ck._cat).decode())

    def get_block(self, name):
        """For a ggml block-quantized tensor (GGUF): (elements, bytes) per block; else None.
        Such tensors arrive as uint8 [n_blocks, block_bytes]; get_dtype() names the ggml type."""
        return self._info(name).block

    @property
    def layout(self):
        """"safetensors", "sharded", "diffusers", "gguf" or "gguf-split"."""
        return self._layout

    def _info(self, name):
        info = self._by_key.get(name)
        if info is None:
            raise KeyError("%s: no tensor named %r" % (self._path, name))
        return info

    # -- reading --------------------------------------------------------------------------------
    def _read_into(self, info, start, nbytes, ptr):
        """Reads bytes [start, start+nbytes) of tensor `info` into host address ptr."""
        self._live()
        err = _Error()
        use = self._stream_lock.acquire(blocking=False)   # one reader per stream; others: none
        try:
            stream = self._stream if use else None
            if use:
                _lib.tfs_stream_set_extent(stream, info.file, info.offset,
                                           info.offset + info.length)
            done = 0
            while done < nbytes:
                n = _lib.tfs_engine_read(self._ck._eng, stream, info.file,
                                         info.offset + start + done, ptr + done, nbytes - done,
                                         ctypes.byref(err))
                _check(n, err)
                if n == 0:
                    raise TensorfsError(5, "%s: %s: file ends inside the tensor"
                                        % (self._path, info.key))
                done += n
        finally:
            if use:
                self._stream_lock.release()

    def _raw(self, info, start, nbytes):
        """A new 1-D uint8 array/tensor (framework's) holding bytes [start, start+nbytes)."""
        if self._fw == "pt":
            import torch
            buf = torch.empty(nbytes, dtype=torch.uint8)
            ptr = buf.data_ptr()
        else:
            import numpy
            buf = numpy.empty(nbytes, dtype=numpy.uint8)
            ptr = buf.ctypes.data
        if nbytes:
            self._read_into(info, start, nbytes, ptr)
        return buf

    def _elem_dtype(self, info):
        """(framework dtype, bytes per element, shape as the framework sees it)."""
        if info.block:                  # ggml blocks: uint8 rows of one block each
            shape = [info.length // info.block[1], info.block[1]]
            if self._fw == "pt":
                import torch
                return torch.uint8, 1, shape
            import numpy
            return numpy.dtype("uint8"), 1, shape
        if info.dtype in _SUBBYTE:
            raise TensorfsError(95, "%s: %s: dtype %s has no %s dtype" % (
                self._path, info.key, info.dtype, "torch" if self._fw == "pt" else "numpy"))
        shape = list(info.shape)
        if info.dtype == "F4":          # two values a byte, as safetensors shows it in torch
            if not shape or shape[-1] % 2:
                raise TensorfsError(22, "%s: %s: F4 tensor with an odd last dimension"
                                    % (self._path, info.key))
            shape[-1] //= 2
        if self._fw == "pt":
            import torch
            dt = getattr(torch, _TORCH[info.dtype], None)
            if dt is None:
                raise TensorfsError(95, "%s: %s: this torch has no %s" % (
                    self._path, info.key, _TORCH[info.dtype]))
            return dt, dt.itemsize, shape
        import numpy
        dt = numpy.dtype(_NUMPY[info.dtype])
        return dt, dt.itemsize, shape

    @staticmethod
    def _shaped(buf, dt, shape):
        return buf.view(dt).reshape(shape)

    def _to_device(self, t):
        if self._fw == "pt" and not self._on_cpu:
            return t.to(self._device)
        return t

    def get_tensor(self, name):
        """The whole tensor `name`, in the framework and on the device of this handle."""
        info = self._info(name)
        dt, _, shape = self._elem_dtype(info)
        if self._on_cpu:
            return self._shaped(self._raw(info, 0, info.length), dt, shape)
        return self._load([name])[name]

    def _load(self, keys):
        """Tensors by tfs_load on this handle's device (None: all), as {key: tensor}."""
        self._live()
        sel = None if keys is None else [_glob_exact(k) for k in keys]
        if self._fw == "np":
            out = self._ck.load_numpy(select=sel, _f4=True)
        else:
            out = self._ck.load(device=self._device, select=sel, _f4=True)
        if keys is not None:    # a glob matching more than asked is impossible, but be exact
            out = {k: out[k] for k in keys}
        return out

    def get_tensors(self):
        """Every tensor, {key: tensor} in offset_keys() order (one tfs_load, DLPack, no copy)."""
        for info in self._infos:
            self._elem_dtype(info)    # refuse F6 before loading anything
        return self._load(None)

    def get_slice(self, name):
        """A SafeSlice of tensor `name`: get_shape(), get_dtype(), and indexing that reads only
        the bytes between the first and the last element selected."""
        return SafeSlice(self, self._info(name))


class SafeSlice:
    """Like safetensors' PySafeSlice. Indexing with ints, slices (step > 0) and one Ellipsis
    reads only the byte range spanning the selected elements (for [a:b] or [a:b, ...]: exactly
    rows a..b); any other index (None, lists, tensors, negative steps...) reads the whole tensor
    and applies the framework's own indexing, errors included."""

    def __init__(self, owner, info):
        self._owner, self._info = owner, info

    def get_shape(self):
        return list(self._info.shape)

    def get_dtype(self):
        return self._info.dtype

    @property
    def shape(self):
        return self.get_shape()

    @property
    def dtype(self):
        return self.get_dtype()

    def __len__(self):
        if not self._info.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._info.shape[0]

    def _plan(self, index, shape):
        """Per-dimension (start, count, step, keep) for a basic index, or None."""
        if not isinstance(index, tuple):
            index = (index,)
        if any(not isinstance(x, (int, slice)) and x is not Ellipsis or isinstance(x, bool)
               for x in index):
            return None
        n_ell = sum(1 for x in index if x is Ellipsis)
        if n_ell > 1:
            return None
        if n_ell:
            i = next(k for k, x in enumerate(index) if x is Ellipsis)
            fill = len(shape) - (len(index) - 1)
            if fill < 0:
                return None
            index = index[:i] + (slice(None),) * fill + index[i + 1:]
        if len(index) > len(shape):
            return None
        index = index + (slice(None),) * (len(shape) - len(index))
        plan = []
        for x, n in zip(index, shape):
            if isinstance(x, slice):
                if x.step is not None and x.step <= 0:
                    return None
                start, stop, step = x.indices(n)
                count = max(0, (stop - start + step - 1) // step)
                plan.append((start, count, step, True))
            else:
                if not -n <= x < n:
                    return None
                plan.append((x % n, 1, 1, False))
        return plan

    def __getitem__(self, index):
        owner, info = self._owner, self._info
        dt, esize, shape = owner._elem_dtype(info)
        plan = None if info.dtype == "F4" else self._plan(index, shape)
        if plan is None:     # the framework's own indexing on the whole tensor
            whole = owner._shaped(owner._raw(info, 0, info.length), dt, shape)
            return owner._to_device(whole[index])
        strides, s = [], 1
        for n in reversed(shape):
            strides.append(s)
            s *= n
        strides.reverse()
        out_shape = [c for (_, c, _, keep) in plan if keep]
        out_strides = [st * step for (_, _, step, keep), st in zip(plan, strides) if keep]
        if any(c == 0 for (_, c, _, _) in plan):
            empty = owner._raw(info, 0, 0)
            return owner._to_device(owner._shaped(empty, dt, [0]).reshape(out_shape))
        first = sum(start * st for (start, _, _, _), st in zip(plan, strides))
        last = sum((start + (c - 1) * step) * st
                   for (start, c, step, _), st in zip(plan, strides))
        buf = owner._raw(info, first * esize, (last - first + 1) * esize)
        flat = buf.view(dt)
        if owner._fw == "pt":
            import torch
            t = torch.as_strided(flat, out_shape, out_strides, 0)
            t = t if t.is_contiguous() else t.contiguous()
        else:
            import numpy
            t = numpy.lib.stride_tricks.as_strided(
                flat, out_shape, [x * esize for x in out_strides], writeable=False)
            if t.flags.c_contiguous:    # the span is exactly the selection: no copy
                t = flat.reshape(out_shape)
            else:
                t = numpy.ascontiguousarray(t)
        return owner._to_device(t)


def load_file(filename, device="cpu", *, select=None, framework="pt"):
    """Like safetensors.torch.load_file: {key: tensor} of a file, sharded or diffusers folder,
    loaded with one tfs_load (DLPack hand-over, no copy). select: optional glob(s) on keys."""
    with safe_open(filename, framework=framework, device=device) as f:
        if select is None:
            return f.get_tensors()
        if isinstance(select, str):
            select = [select]
        if f._fw == "np":
            return f._ck.load_numpy(select=select, _f4=True)
        return f._ck.load(device=f._device, select=select, _f4=True)
