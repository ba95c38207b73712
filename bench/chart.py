#!/usr/bin/python3
"""chart.py - draws bench/run.sh's step 7 as a PNG: GB/s of every reader in every profile.

  chart.py RESULTS_JSON OUT_PNG

One group of horizontal bars per reader (baselines, peers, tensorfs, in run order), one bar per
profile (warm, cold, throttled); the bar's label is its GB/s. Debian's python3-matplotlib.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KIND = {"cat": "baseline", "pread": "baseline", "mmap": "baseline", "bulk": "limit", "bindfs": "peer",
        "st_load_file": "peer", "st_safe_open": "peer", "runai": "peer", "fastsafetensors": "peer"}
COLORS = {"warm": "#e4572e", "cold": "#29335c", "throttled": "#f3a712"}


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: chart.py RESULTS_JSON OUT_PNG")
    with open(sys.argv[1], encoding="utf-8") as f:
        res = json.load(f)
    matrix = res.get("matrix") or {}
    if not matrix:
        raise SystemExit("chart.py: %s has no step-7 matrix" % sys.argv[1])
    profiles = [p for p in ("warm", "cold", "throttled") if p in matrix]
    readers = []
    for p in profiles:
        for r in matrix[p]:
            if r not in readers:
                readers.append(r)
    # baselines and peers first, then tensorfs, each in the order the bench ran them
    readers.sort(key=lambda r: (r.startswith("tfs"), 0))
    n, h = len(profiles), 0.8 / max(len(profiles), 1)
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(readers) * max(n, 1) / 1.6 + 1.6))
    for i, p in enumerate(profiles):
        ys, xs = [], []
        for j, r in enumerate(readers):
            v = matrix[p].get(r, {}).get("gbps")
            if v is not None:
                ys.append(j + (i - (n - 1) / 2) * h)
                xs.append(v)
        bars = ax.barh(ys, xs, height=h, color=COLORS.get(p), label=p)
        ax.bar_label(bars, labels=["%.2f" % x for x in xs], fontsize=7, padding=2)
    ax.set_yticks(range(len(readers)))
    ax.set_yticklabels(["%s (%s)" % (r, KIND[r]) if r in KIND else r for r in readers], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("GB/s (10^9 bytes per second; higher is better)")
    env = res.get("env", {})
    ax.set_title("tensorfs bench %s: %s tensors, %.2f GiB in %s shards, %s cores, kernel %s\n"
                 "one run on a shared machine: noisy" % (env.get("git", "?"), env.get("tensors", "?"),
                                                         env.get("tensor_bytes", 0) / 2**30,
                                                         env.get("shards", "?"), env.get("cores", "?"),
                                                         env.get("kernel", "?")), fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
