#!/usr/bin/python3
"""chart.py - draws bench/run.sh's step 7 as a PNG: GB/s of every reader in every profile.

  chart.py RESULTS_JSON OUT_PNG

One panel per profile (warm, cold, throttled; each on its own scale), one bar per reader:
baselines, the limit and peers first, then tensorfs, in run order, coloured by kind; the bar's
label is its GB/s. Debian's python3-matplotlib.
"""
import json
import sys

if __name__ == "__main__" and sys.argv[1:2] in (["-h"], ["--help"]):
    print(__doc__.strip())
    sys.exit(0)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KIND = {"cat": "baseline", "pread": "baseline", "mmap": "baseline", "bulk": "limit", "bindfs": "peer",
        "st_load_file": "peer", "st_safe_open": "peer", "runai": "peer", "fastsafetensors": "peer"}
COLORS = {"baseline": "#8a8a8a", "limit": "#29335c", "peer": "#f3a712", "tfs": "#e4572e"}


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
    # one panel per profile, each on its own scale (warm is 10-100x throttled)
    fig, axes = plt.subplots(1, len(profiles), sharey=True,
                             figsize=(3.6 * len(profiles) + 2.2, 0.3 * len(readers) + 1.6), squeeze=False)
    for ax, p in zip(axes[0], profiles):
        ys, xs = [], []
        for j, r in enumerate(readers):
            v = matrix[p].get(r, {}).get("gbps")
            if v is not None:
                ys.append(j)
                xs.append(v)
        colors = [COLORS["tfs"] if readers[y].startswith("tfs") else COLORS[KIND.get(readers[y], "baseline")]
                  for y in ys]
        bars = ax.barh(ys, xs, height=0.7, color=colors)
        ax.bar_label(bars, labels=["%.2f" % x for x in xs], fontsize=7, padding=2)
        ax.set_title(p, fontsize=9)
        ax.set_xlabel("GB/s", fontsize=8)
        ax.set_xlim(0, max(xs + [0.01]) * 1.25)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
    axes[0][0].set_yticks(range(len(readers)))
    axes[0][0].set_yticklabels(["%s (%s)" % (r, KIND[r]) if r in KIND else r for r in readers], fontsize=8)
    axes[0][0].invert_yaxis()
    env = res.get("env", {})
    fig.suptitle("tensorfs bench %s: %s tensors, %.2f GiB in %s shards, %s cores; GB/s = 10^9 bytes/s, "
                 "higher is better; one run on a shared machine: noisy"
                 % (env.get("git", "?"), env.get("tensors", "?"), env.get("tensor_bytes", 0) / 2**30,
                    env.get("shards", "?"), env.get("cores", "?")), fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
