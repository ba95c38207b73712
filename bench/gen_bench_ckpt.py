#!/usr/bin/python3
"""gen_bench_ckpt.py - fallback checkpoint generator for bench/run.sh (used when tests/gen_ckpt.py is
missing or fails): a llama-like sharded safetensors checkpoint of BF16 tensors with an index.

  gen_bench_ckpt.py OUT_DIR --tensors N --shards S --total-mb M

Sizes follow a decoder layer (big MLP and attention matrices, tiny norms), so the tensor-size mix is
what a loader sees in practice. Bytes come from a seeded random pool (incompressible, written for
real: no sparse files, so cold reads hit the disk).
"""
import argparse
import json
import os
import struct

import numpy as np

PER_LAYER = [("self_attn.q_proj.weight", 4.0), ("self_attn.k_proj.weight", 1.0),
             ("self_attn.v_proj.weight", 1.0), ("self_attn.o_proj.weight", 4.0),
             ("mlp.gate_proj.weight", 11.0), ("mlp.up_proj.weight", 11.0),
             ("mlp.down_proj.weight", 11.0), ("input_layernorm.weight", 0.002),
             ("post_attention_layernorm.weight", 0.002)]


def plan(n, total):
    items = [("model.embed_tokens.weight", 8.0)]
    layer = 0
    while len(items) < n - 2:
        for suffix, w in PER_LAYER:
            if len(items) >= n - 2:
                break
            items.append(("model.layers.%d.%s" % (layer, suffix), w))
        layer += 1
    items += [("model.norm.weight", 0.002), ("lm_head.weight", 8.0)]
    items = items[:max(n, 1)]
    wsum = sum(w for _, w in items)
    out = []
    for name, w in items:
        elems = max(1, int(total * w / wsum) // 2)
        shape = [elems // 256, 256] if elems % 256 == 0 and elems >= 256 else [elems]
        out.append((name, shape, elems * 2))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tensors", type=int, default=1000)
    ap.add_argument("--shards", type=int, default=10)
    ap.add_argument("--total-mb", type=float, default=4096)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()

    total = int(a.total_mb * (1 << 20))
    items = plan(a.tensors, total)
    nsh = max(1, min(a.shards, len(items)))
    per = sum(b for _, _, b in items) / nsh
    groups, acc = [[] for _ in range(nsh)], 0
    for name, shape, nbytes in items:
        g = min(nsh - 1, int(acc // per)) if per else 0
        groups[g].append((name, shape, nbytes))
        acc += nbytes
    groups = [g for g in groups if g]
    pool = np.random.default_rng(a.seed).integers(0, 256, 16 << 20, dtype=np.uint8).tobytes()
    os.makedirs(a.out, exist_ok=True)
    weight_map, pos = {}, 0
    for si, group in enumerate(groups):
        fname = "model-%05d-of-%05d.safetensors" % (si + 1, len(groups))
        hdr, begin = {"__metadata__": {"format": "pt"}}, 0
        for name, shape, nbytes in group:
            hdr[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [begin, begin + nbytes]}
            begin += nbytes
            weight_map[name] = fname
        hj = json.dumps(hdr, separators=(",", ":")).encode()
        hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
        with open(os.path.join(a.out, fname), "wb") as f:
            f.write(struct.pack("<Q", len(hj)) + hj)
            left = begin
            while left:
                k = min(left, len(pool) - pos, 4 << 20)
                f.write(pool[pos:pos + k])
                left -= k
                pos = (pos + k + 4093) % (len(pool) - 4096)
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(b for _, _, b in items)},
                   "weight_map": dict(sorted(weight_map.items()))}, f, indent=1)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        f.write('{"model_type": "llama"}\n')


if __name__ == "__main__":
    main()
