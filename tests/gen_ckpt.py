#!/usr/bin/python3
"""gen_ckpt.py - writes deterministic safetensors checkpoints for tensorfs tests and benchmarks.

Modes (each writes the checkpoint and a manifest OUT.manifest.json beside it, outside the checkpoint):
  gen_ckpt.py sharded   OUT_DIR  [--tensors 240] [--shards 3] [--seed S] [--size-mb M]
  gen_ckpt.py diffusers OUT_DIR  [--tensors 120] [--shards 2] ...   (unet sharded, vae, text_encoder)
  gen_ckpt.py single    OUT.safetensors [--tensors 40] ...
  gen_ckpt.py names     OUT_DIR                                     (one model.safetensors, tricky names)
Common options: --seed S, --size-mb/--total-mb M (total tensor bytes), --dtypes BF16,F32 (restrict the
dtype mix; default all), --no-sha (skip sha256, for multi-GiB benchmark checkpoints), --manifest PATH.

Every safetensors dtype numpy can produce is used (F16 F32 F64 I8 U8 I16 U16 I32 U32 I64 U64 BOOL), plus
BF16 and F8_E4M3 / F8_E5M2 written as raw uint16 / uint8 bits. Shapes include scalars and a 0-sized dim.
Headers carry __metadata__, list keys in name order (not data order) and are space-padded so the data
region starts 8-byte aligned. Tensor data is generated and written chunk by chunk, so --size-mb 4096
(alias --total-mb) never holds more than a few MiB in memory.

The manifest lists, for each tensor: key, name, component, path (its path in a tensorfs mount), dtype,
shape, shard (relative path), offset (absolute in the shard), length, sha256 and gen ([seed, index]).
tensor_bytes(entry) / tensor_array(entry) regenerate the values from gen; numpy_dtype(dtype) gives the
numpy dtype to read a mounted tensor with numpy.fromfile.

Stdlib + numpy only; run it with Debian's /usr/bin/python3.
"""
import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np

# dtype -> (numpy dtype used to generate and to read it back, bytes per element)
DTYPES = {
    "BOOL": ("|b1", 1),
    "U8": ("|u1", 1),
    "I8": ("|i1", 1),
    "F8_E5M2": ("|u1", 1),   # raw bits
    "F8_E4M3": ("|u1", 1),   # raw bits
    "I16": ("<i2", 2),
    "U16": ("<u2", 2),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),      # raw bits (upper half of a float32)
    "I32": ("<i4", 4),
    "U32": ("<u4", 4),
    "F32": ("<f4", 4),
    "F64": ("<f8", 8),
    "I64": ("<i8", 8),
    "U64": ("<u8", 8),
}
ALL_DTYPES = list(DTYPES)
CHUNK_ELEMS = 1 << 20          # generation granularity; fixed so regeneration matches exactly
MAX_COMPONENT = 255


def numpy_dtype(dtype):
    """numpy dtype to read a tensor of safetensors `dtype` (BF16 -> uint16 bits, F8_* -> uint8 bits)."""
    return np.dtype(DTYPES[dtype][0])


def elem_size(dtype):
    return DTYPES[dtype][1]


# ---- values ------------------------------------------------------------------------------------------

def _chunk(rng, dtype, n):
    if dtype == "F32":
        return rng.standard_normal(n, dtype=np.float32)
    if dtype == "F16":
        return rng.standard_normal(n, dtype=np.float32).astype(np.float16)
    if dtype == "F64":
        return rng.standard_normal(n)
    if dtype == "BF16":
        return (rng.standard_normal(n, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    if dtype in ("F8_E4M3", "F8_E5M2", "U8"):
        return rng.integers(0, 256, n, dtype=np.uint8)
    if dtype == "BOOL":
        return rng.integers(0, 2, n, dtype=np.uint8).view(np.bool_)
    dt = np.dtype(DTYPES[dtype][0])
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)


def value_chunks(seed, index, dtype, nelem):
    """Yields the tensor's values as little-endian bytes, CHUNK_ELEMS elements at a time."""
    rng = np.random.default_rng([seed, index])
    left = nelem
    while left > 0:
        n = min(left, CHUNK_ELEMS)
        yield _chunk(rng, dtype, n).astype(numpy_dtype(dtype), copy=False).tobytes()
        left -= n


def nelem_of(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def tensor_bytes(entry):
    """The exact bytes of a manifest tensor entry, regenerated from its gen = [seed, index]."""
    seed, index = entry["gen"]
    return b"".join(value_chunks(seed, index, entry["dtype"], nelem_of(entry["shape"])))


def tensor_array(entry):
    """The values of a manifest tensor entry as a numpy array of numpy_dtype(dtype), reshaped."""
    arr = np.frombuffer(tensor_bytes(entry), dtype=numpy_dtype(entry["dtype"]))
    return arr.reshape(entry["shape"])


# ---- tensorfs path rules (the spec the mount is tested against) -----------------------------------

def escape_component(comp):
    """bytes -> (str, hashed): percent-encodes %, /, control bytes; '' -> '%'; >255 bytes -> cut."""
    if comp == b"":
        return "%", False
    out = bytearray()
    for b in comp:
        if b == 0x25 or b == 0x2F or b < 0x20 or b == 0x7F:
            out += b"%%%02X" % b
        else:
            out.append(b)
    if len(out) > MAX_COMPONENT:
        # The hash is the implementation's choice: tests match the cut name by pattern.
        cut = bytes(out[:MAX_COMPONENT - 18])
        return cut.decode("utf-8", "surrogateescape") + "%~" + "?" * 16, True
    return bytes(out).decode("utf-8", "surrogateescape"), False


def assign_paths(tensors):
    """Sets entry['path'] and entry['path_hashed'] for every tensor of a checkpoint."""
    comps = {}
    for t in tensors:
        parts = [escape_component(c.encode("utf-8")) for c in t["name"].split(".")]
        pre = [t["component"]] if t["component"] else []
        comps[t["key"]] = (tuple(pre + [p for p, _ in parts]), any(h for _, h in parts))
    prefixes = set()
    for cs, _ in comps.values():
        for i in range(1, len(cs)):
            prefixes.add(cs[:i])
    for t in tensors:
        cs, hashed = comps[t["key"]]
        path = "/".join(cs)
        if cs in prefixes:
            path += "/%self"
        t["path"] = path
        t["path_hashed"] = hashed


# ---- plans ---------------------------------------------------------------------------------------

def llama_names(n):
    head = ["model.embed_tokens.weight"]
    tail = ["model.norm.weight", "lm_head.weight"]
    per_layer = ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                 "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                 "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight",
                 "self_attn.rotary_emb.inv_freq", "self_attn.q_proj.bias", "mlp.scale",
                 "self_attn.q_proj.qzeros", "mlp.up_proj.g_idx"]
    return _layered(n, head, "model.layers.%d.", per_layer, tail)


def _layered(n, head, layer_fmt, per_layer, tail):
    names = list(head)
    i = 0
    while len(names) + len(tail) < n:
        for p in per_layer:
            if len(names) + len(tail) >= n:
                break
            names.append((layer_fmt % i) + p)
        i += 1
    names += tail
    return names[:max(n, 1)]


def unet_names(n):
    head = ["conv_in.weight", "conv_in.bias", "time_embedding.linear_1.weight", "time_embedding.linear_1.bias"]
    tail = ["conv_norm_out.weight", "conv_out.weight", "conv_out.bias"]
    per = ["resnets.0.norm1.weight", "resnets.0.conv1.weight", "resnets.0.conv1.bias",
           "resnets.0.conv2.weight", "attentions.0.transformer_blocks.0.attn1.to_q.weight",
           "attentions.0.transformer_blocks.0.attn1.to_k.weight",
           "attentions.0.transformer_blocks.0.attn2.to_v.weight",
           "attentions.0.transformer_blocks.0.ff.net.0.proj.weight", "downsamplers.0.conv.weight"]
    return _layered(n, head, "down_blocks.%d.", per, tail)


def vae_names(n):
    head = ["encoder.conv_in.weight", "encoder.conv_in.bias", "quant_conv.weight", "post_quant_conv.weight"]
    tail = ["decoder.conv_out.weight", "decoder.conv_out.bias"]
    per = ["resnets.0.norm1.weight", "resnets.0.conv1.weight", "resnets.1.conv2.weight",
           "upsamplers.0.conv.weight"]
    return _layered(n, head, "decoder.up_blocks.%d.", per, tail)


def clip_names(n):
    head = ["text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_ids"]
    tail = ["text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias"]
    per = ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
           "self_attn.out_proj.weight", "mlp.fc1.weight", "mlp.fc2.bias", "layer_norm1.weight"]
    return _layered(n, head, "text_model.encoder.layers.%d.", per, tail)


def plan_tensors(rng, names, total_bytes, big_first=True, dtype_list=None):
    """Returns [(name, dtype, shape)] with mixed dtypes, scalars, 0-sized dims, ~total_bytes in all."""
    n = len(names)
    pool = dtype_list or ALL_DTYPES
    dtypes = [pool[i % len(pool)] for i in range(n)]
    rng.shuffle(dtypes)
    weights = rng.lognormal(0.0, 1.0, n)
    if big_first and n > 4:
        weights[0] = weights.sum() * 0.25  # one tensor spanning many blocks
    weights /= weights.sum()
    special = {}
    if n >= 8:
        picks = rng.choice(np.arange(1, n), size=min(n - 1, 6), replace=False)
        kinds = ["scalar", "scalar", "zero", "zero2", "odd", "tiny"]
        for p, k in zip(picks, kinds):
            special[int(p)] = k
    plan = []
    for i, name in enumerate(names):
        dt = dtypes[i]
        es = elem_size(dt)
        kind = special.get(i)
        if kind == "scalar":
            shape = []
        elif kind == "zero":
            shape = [0]
        elif kind == "zero2":
            shape = [3, 0, 5]
        elif kind == "odd":
            shape = [int(rng.integers(1, 40)) * 2 + 1]
        elif kind == "tiny":
            shape = [1, 1]
        else:
            e = max(1, int(weights[i] * total_bytes) // es)
            shape = _shape_for(rng, e)
        plan.append((name, dt, shape))
    return plan


def _shape_for(rng, e):
    r = rng.random()
    if r < 0.25 or e < 16:
        return [e]
    if r < 0.8:
        k = int(rng.integers(0, min(12, int(np.log2(e))) + 1))
        d1 = (1 << k) if rng.random() < 0.7 else max(1, (1 << k) - 1)
        return [max(1, e // d1), d1]
    d2 = int(rng.integers(1, 9))
    d1 = int(rng.integers(1, 17))
    d0 = max(1, e // (d1 * d2))
    if rng.random() < 0.5:
        return [d0, d1, d2]
    return [d0, d1, d2, 1]


def split_shards(plan, nshards):
    """Splits a plan (in data order) into nshards consecutive non-empty groups of similar byte size."""
    nshards = max(1, min(nshards, len(plan)))
    sizes = [nelem_of(s) * elem_size(d) for _, d, s in plan]
    total = sum(sizes) or 1
    groups = [[] for _ in range(nshards)]
    acc = 0
    g = 0
    for i, item in enumerate(plan):
        left_items = len(plan) - i
        left_groups = nshards - g
        if groups[g] and g + 1 < nshards and (acc >= total * (g + 1) / nshards or left_items <= left_groups - 1):
            g += 1
        groups[g].append((i, item))
        acc += sizes[i]
    # make sure no group is empty (tiny plans)
    for g in range(nshards):
        if not groups[g]:
            for h in range(nshards):
                if len(groups[h]) > 1:
                    groups[g].append(groups[h].pop())
                    break
    return groups


# ---- writing -------------------------------------------------------------------------------------

def write_safetensors(path, entries, seed, ensure_ascii=False, key_order=None, want_sha=True,
                      metadata=None):
    """Writes one safetensors file. entries: [(gidx, name, dtype, shape)] in data order.

    Returns [{name, dtype, shape, offset (absolute), length, sha256, gen}] in data order.
    """
    hdr = {"__metadata__": dict(metadata or {"format": "pt", "generator": "tensorfs gen_ckpt.py",
                                              "seed": str(seed)})}
    begin = 0
    info = []
    for gidx, name, dt, shape in entries:
        length = nelem_of(shape) * elem_size(dt)
        info.append({"name": name, "dtype": dt, "shape": list(shape), "begin": begin, "length": length,
                     "gen": [seed, gidx]})
        begin += length
    order = key_order(info) if key_order else sorted(info, key=lambda t: t["name"])
    for t in order:
        hdr[t["name"]] = {"dtype": t["dtype"], "shape": t["shape"],
                          "data_offsets": [t["begin"], t["begin"] + t["length"]]}
    hj = json.dumps(hdr, ensure_ascii=ensure_ascii, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    data_start = 8 + len(hj)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for t in info:
            h = hashlib.sha256() if want_sha else None
            nelem = nelem_of(t["shape"])
            for buf in value_chunks(seed, t["gen"][1], t["dtype"], nelem):
                f.write(buf)
                if h:
                    h.update(buf)
            t["offset"] = data_start + t["begin"]
            t["sha256"] = h.hexdigest() if h else None
            del t["begin"]
    return info


def write_text(root, rel, text):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)


def fake_tokenizer(seed, n=6000):
    rng = np.random.default_rng([seed, 999])
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {}
    for i in range(n):
        k = int(rng.integers(1, 9))
        w = "".join(letters[int(x)] for x in rng.integers(0, 26, k))
        vocab["\u0120" + w + str(i) if i % 3 == 0 else w + str(i)] = i
    return json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": vocab,
                                                   "merges": ["a b", "c d", "\u0120 t"]}}, indent=1)


def shard_name(prefix, i, n):
    return "%s-%05d-of-%05d.safetensors" % (prefix, i + 1, n)


def write_sharded_set(root, comp, plan, nshards, seed, prefix, want_sha, gidx0=0):
    """Writes plan as shards (+ index) under root/comp. Returns (tensor entries, shard rels, index rel)."""
    groups = split_shards(plan, nshards)
    n = len(groups)
    weight_map = {}
    tensors = []
    shards = []
    for si, group in enumerate(groups):
        fname = shard_name(prefix, si, n)
        rel = (comp + "/" + fname) if comp else fname
        entries = [(gidx0 + i, name, dt, shape) for i, (name, dt, shape) in group]
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        info = write_safetensors(os.path.join(root, rel), entries, seed, want_sha=want_sha)
        for t in info:
            t["shard"] = rel
            weight_map[t["name"]] = fname
        tensors += info
        shards.append(rel)
    index_rel = ((comp + "/") if comp else "") + prefix + ".safetensors.index.json"
    total = sum(t["length"] for t in tensors)
    write_text(root, index_rel, json.dumps({"metadata": {"total_size": total},
                                            "weight_map": dict(sorted(weight_map.items()))}, indent=2))
    return tensors, shards, index_rel


def finish(root, layout, tensors, manifest_path, seed, single_file=None):
    for t in tensors:
        t.setdefault("component", "")
        t["key"] = (t["component"] + "/" + t["name"]) if t["component"] else t["name"]
    assign_paths(tensors)
    files, hidden = [], []
    shard_rels = {t["shard"] for t in tensors}
    if single_file:
        files.append({"rel": os.path.basename(single_file), "size": os.path.getsize(single_file),
                      "is_shard": True})
    else:
        for dp, dns, fns in os.walk(root):
            for fn in fns:
                rel = os.path.relpath(os.path.join(dp, fn), root)
                if any(part.startswith(".") for part in rel.split(os.sep)):
                    hidden.append(rel)
                    continue
                files.append({"rel": rel, "size": os.path.getsize(os.path.join(dp, fn)),
                              "is_shard": rel in shard_rels})
    files.sort(key=lambda f: f["rel"])
    keyorder = ["key", "name", "component", "path", "path_hashed", "dtype", "shape", "shard", "offset",
                "length", "sha256", "gen"]
    tensors = [{k: t[k] for k in keyorder} for t in tensors]
    m = {"layout": layout, "root": os.path.realpath(root if not single_file else single_file),
         "seed": seed, "tensors": tensors, "files": files, "hidden": sorted(hidden),
         "tensor_bytes": sum(t["length"] for t in tensors)}
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(m, f, indent=1, ensure_ascii=False)
    return m


def common_files(root, seed, nlayers=4):
    write_text(root, "config.json", json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
        "num_hidden_layers": nlayers, "torch_dtype": "bfloat16", "seed": seed}, indent=2) + "\n")
    write_text(root, "generation_config.json", json.dumps({"do_sample": True, "temperature": 0.6}) + "\n")
    write_text(root, "tokenizer.json", fake_tokenizer(seed))
    write_text(root, "tokenizer_config.json", json.dumps({"model_max_length": 4096}) + "\n")
    write_text(root, "original/params.json", json.dumps({"dim": 64, "n_layers": nlayers}) + "\n")
    write_text(root, ".gitattributes", "*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    write_text(root, ".cache/huggingface/download/x.lock", "hidden\n")


def gen_sharded(a):
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    plan = plan_tensors(rng, llama_names(a.tensors), int(a.size_mb * (1 << 20)), dtype_list=a.dtypes)
    tensors, _, _ = write_sharded_set(a.out, "", plan, a.shards, a.seed, "model", not a.no_sha)
    common_files(a.out, a.seed)
    return finish(a.out, "sharded", tensors, a.manifest, a.seed)


def gen_single(a):
    path = a.out
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    plan = plan_tensors(rng, llama_names(a.tensors), int(a.size_mb * (1 << 20)), dtype_list=a.dtypes)
    entries = [(i, n, dt, s) for i, (n, dt, s) in enumerate(plan)]
    tensors = write_safetensors(path, entries, a.seed, want_sha=not a.no_sha)
    for t in tensors:
        t["shard"] = os.path.basename(path)
    return finish(d, "safetensors", tensors, a.manifest, a.seed, single_file=path)


def gen_diffusers(a):
    root = a.out
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    total = int(a.size_mb * (1 << 20))
    n_unet = max(2, a.tensors // 2)
    n_vae = max(1, a.tensors // 4)
    n_te = max(1, a.tensors - n_unet - n_vae)
    tensors = []
    # unet: sharded with an index
    plan = plan_tensors(rng, unet_names(n_unet), total // 2, dtype_list=a.dtypes)
    t, _, _ = write_sharded_set(root, "unet", plan, a.shards, a.seed, "diffusion_pytorch_model",
                                not a.no_sha, gidx0=0)
    for x in t:
        x["component"] = "unet"
    tensors += t
    # vae: one diffusion_pytorch_model.safetensors
    plan = plan_tensors(rng, vae_names(n_vae), total // 4, dtype_list=a.dtypes)
    os.makedirs(os.path.join(root, "vae"), exist_ok=True)
    entries = [(100000 + i, n, dt, s) for i, (n, dt, s) in enumerate(plan)]
    t = write_safetensors(os.path.join(root, "vae/diffusion_pytorch_model.safetensors"), entries, a.seed,
                          want_sha=not a.no_sha)
    for x in t:
        x["component"], x["shard"] = "vae", "vae/diffusion_pytorch_model.safetensors"
    tensors += t
    # text_encoder: one model.safetensors (transformers naming)
    plan = plan_tensors(rng, clip_names(n_te), total // 4, dtype_list=a.dtypes)
    os.makedirs(os.path.join(root, "text_encoder"), exist_ok=True)
    entries = [(200000 + i, n, dt, s) for i, (n, dt, s) in enumerate(plan)]
    t = write_safetensors(os.path.join(root, "text_encoder/model.safetensors"), entries, a.seed,
                          want_sha=not a.no_sha)
    for x in t:
        x["component"], x["shard"] = "text_encoder", "text_encoder/model.safetensors"
    tensors += t
    write_text(root, "model_index.json", json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.21.0",
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "PNDMScheduler"], "safety_checker": [None, None],
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "requires_safety_checker": False}, indent=2) + "\n")
    write_text(root, "unet/config.json", json.dumps({"_class_name": "UNet2DConditionModel",
                                                     "sample_size": 64}, indent=2) + "\n")
    write_text(root, "vae/config.json", json.dumps({"_class_name": "AutoencoderKL"}, indent=2) + "\n")
    write_text(root, "text_encoder/config.json", json.dumps({"architectures": ["CLIPTextModel"]}) + "\n")
    write_text(root, "scheduler/scheduler_config.json", json.dumps({"_class_name": "PNDMScheduler",
                                                                    "num_train_timesteps": 1000}) + "\n")
    write_text(root, "tokenizer/vocab.json", fake_tokenizer(a.seed, 2000))
    write_text(root, "tokenizer/merges.txt", "#version: 0.2\na b\nc d\n")
    write_text(root, "feature_extractor/preprocessor_config.json", json.dumps({"crop_size": 224}) + "\n")
    write_text(root, ".gitattributes", "*.safetensors filter=lfs\n")
    return finish(root, "diffusers", tensors, a.manifest, a.seed)


# Tricky names: each exercises one tree rule (the rules: tests/integration/README.md).
TRICKY_NAMES = [
    "a.b", "a.b.c", "a.b.d.e",          # a/b is a dir; tensor a.b is a/b/%self
    "a", "a.x",                         # a/%self (a is also a prefix)
    "a..b",                             # a/%/b
    ".lead", "trail.",                  # %/lead, trail/%
    "x...y",                            # x/%/%/y
    "%x", "p%q.r", "q.%self",           # %25x, p%25q/r, q/%25self
    "slash/in.name", "x%2F.w", "x/.w",  # slash%2Fin/name, x%252F/w, x%2F/w  (all distinct)
    "ctl\x01x.w", "tab\tx.w", "del\x7f.w", "nl\nx.w",
    "模型.层.0.权重", "émoji🙂.w", "with space.w", "dash-und_er.w",
    "L" * 255 + ".w",                   # exactly 255 bytes: kept
    "M" * 300 + ".w",                   # 300 bytes: cut + ~hash
    ("N" * 270 + ".k1"), ("N" * 270 + "X.k2"),   # two long components that share a 238-byte prefix
    ".tensorfs.x",                      # %/tensorfs/x, not the virtual dir
    "model.layers.0.mlp.up_proj.weight", "lm_head.weight",
]


def gen_names(a):
    root = a.out
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    names = list(TRICKY_NAMES)
    plan = plan_tensors(rng, names, int(a.size_mb * (1 << 20)), big_first=False)
    # data order reversed against header (insertion) order, header written with \u escapes
    entries = [(i, n, dt, s) for i, (n, dt, s) in enumerate(plan)][::-1]
    tensors = write_safetensors(os.path.join(root, "model.safetensors"), entries, a.seed,
                                ensure_ascii=True, key_order=lambda info: info[::-1],
                                want_sha=not a.no_sha)
    for t in tensors:
        t["shard"] = "model.safetensors"
    write_text(root, "config.json", json.dumps({"note": "tricky names"}) + "\n")
    return finish(root, "safetensors", tensors, a.manifest, a.seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a deterministic safetensors checkpoint + manifest.")
    ap.add_argument("mode", choices=["sharded", "diffusers", "single", "names"])
    ap.add_argument("out", help="checkpoint folder (or .safetensors file for single)")
    ap.add_argument("--tensors", type=int, default=None)
    ap.add_argument("--shards", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size-mb", "--total-mb", dest="size_mb", type=float, default=None,
                    help="approximate total tensor bytes in MiB (written in chunks)")
    ap.add_argument("--manifest", default=None, help="default: OUT.manifest.json")
    ap.add_argument("--dtypes", default=None,
                    help="comma-separated dtypes to cycle through (default: all %d)" % len(ALL_DTYPES))
    ap.add_argument("--no-sha", action="store_true", help="skip sha256 in the manifest (faster, large)")
    ap.add_argument("--quiet", "-q", action="store_true")
    a = ap.parse_args(argv)
    defaults = {"sharded": (240, 3, 4.0), "diffusers": (120, 2, 4.0), "single": (40, 1, 1.0),
                "names": (0, 1, 0.25)}[a.mode]
    a.tensors = a.tensors if a.tensors is not None else defaults[0]
    a.shards = a.shards if a.shards is not None else defaults[1]
    a.size_mb = a.size_mb if a.size_mb is not None else defaults[2]
    if a.dtypes:
        a.dtypes = [x.strip().upper() for x in a.dtypes.split(",") if x.strip()]
        unknown = [x for x in a.dtypes if x not in DTYPES]
        if unknown or not a.dtypes:
            ap.error("--dtypes: unknown %s (known: %s)" % (",".join(unknown), ",".join(ALL_DTYPES)))
    a.out = a.out.rstrip("/") or a.out
    a.manifest = a.manifest or (a.out + ".manifest.json")
    if a.mode in ("sharded", "diffusers") and a.tensors < a.shards:
        ap.error("--tensors must be >= --shards")
    if a.tensors < 1 and a.mode != "names":
        ap.error("--tensors must be >= 1")
    m = {"sharded": gen_sharded, "diffusers": gen_diffusers, "single": gen_single,
         "names": gen_names}[a.mode](a)
    if not a.quiet:
        print("%s: %s checkpoint, %d tensors, %d bytes of tensor data, manifest %s" % (
            a.out, m["layout"], len(m["tensors"]), m["tensor_bytes"], a.manifest), file=sys.stderr)
    return m


if __name__ == "__main__":
    main()
