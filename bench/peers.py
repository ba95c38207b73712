"""peers.py - the loaders a user would pick instead of tensorfs, timed on the same shards.

  peers.py PEER INDEX_JSON ROOT ORDER_LIST

Runs in the bench's pinned virtual environment (bench/requirements.txt, built by
scripts/setup-venv.sh). ROOT is the checkpoint folder (or the mount: the shard files pass through
it); INDEX_JSON is the mount's .tensorfs/index.json; ORDER_LIST is a preadcat list (OFFSET, LENGTH,
PATH per line) whose order the per-tensor readers follow (bench/run.sh's shuffled "execution" order).
PEER is one of:
  st_load_file       safetensors.torch.load_file of every shard, each tensor then copied into
                     memory of its own (load_file maps the file; the copy is where its bytes are
                     read, as load_state_dict's copy_ does)
  st_safe_open       safetensors.safe_open per shard, get_tensor + copy in ORDER_LIST's order
  runai              runai_model_streamer.SafetensorsStreamer.stream_files over all shards
  fastsafetensors    fastsafetensors.SafeTensorsFileLoader(cpu, nogds=True).copy_files_to_device
Every reader ends with each tensor's bytes read once into this process's memory, as pread does.
Prints "bytes=N secs=S" (the time covers loading only: interpreter start-up and imports are left
out, which flatters the peers), or exits 3 with a line naming what is missing when a peer cannot
run here (not installed, needs a GPU), and 1 on any other failure.
"""
import json
import os
import sys
import time


def shards_and_order(index_json, root, order_list):
    with open(index_json, encoding="utf-8") as f:
        idx = json.load(f)
    by_range = {}
    shards = []
    for t in idx["tensors"]:
        by_range.setdefault((os.path.basename(t["file"]), t["offset"], t["length"]), []).append(t)
        if t["file"] not in shards:
            shards.append(t["file"])
    order = []
    with open(order_list, encoding="utf-8") as f:
        for line in f:
            off, length, path = line.rstrip("\n").split("\t", 2)
            order.append(by_range[(os.path.basename(path), int(off), int(length))].pop())
    return [os.path.join(root, s) for s in shards], order, root


def run(peer, shards, order, root):
    if peer == "st_load_file":
        from safetensors.torch import load_file
        t0 = time.perf_counter()
        n = 0
        for s in shards:
            for v in load_file(s).values():
                v = v.clone()
                n += v.numel() * v.element_size()
        return n, time.perf_counter() - t0
    if peer == "st_safe_open":
        from safetensors import safe_open
        t0 = time.perf_counter()
        handles = {}
        n = 0
        for t in order:
            h = handles.get(t["file"])
            if h is None:
                h = handles[t["file"]] = safe_open(os.path.join(root, t["file"]), framework="pt")
            v = h.get_tensor(t["key"]).clone()
            n += v.numel() * v.element_size()
        dt = time.perf_counter() - t0
        handles.clear()
        return n, dt
    if peer == "runai":
        from runai_model_streamer import SafetensorsStreamer
        t0 = time.perf_counter()
        n = 0
        with SafetensorsStreamer() as st:
            st.stream_files(shards)
            for _name, v in st.get_tensors():
                n += v.numel() * v.element_size()
        return n, time.perf_counter() - t0
    if peer == "fastsafetensors":
        from fastsafetensors import SafeTensorsFileLoader, SingleGroup
        t0 = time.perf_counter()
        loader = SafeTensorsFileLoader(SingleGroup(), "cpu", nogds=True)
        loader.add_filenames({0: shards})
        bufs = loader.copy_files_to_device()
        n = 0
        for k in loader.get_keys():
            v = bufs.get_tensor(k)
            n += v.numel() * v.element_size()
        dt = time.perf_counter() - t0
        bufs.close()
        loader.close()
        return n, dt
    raise SystemExit("peers.py: unknown peer %r" % peer)


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__.split("\n\n")[1])
    peer = sys.argv[1]
    shards, order, root = shards_and_order(*sys.argv[2:5])
    try:
        import torch  # noqa: F401  (imported before the clock starts, for every peer)
        n, dt = run(peer, shards, order, root)
    except ImportError as e:
        print("peers.py: %s cannot run here: %s" % (peer, e), file=sys.stderr)
        sys.exit(3)
    print("bytes=%d secs=%.6f" % (n, dt))


if __name__ == "__main__":
    main()
