#!/bin/bash
# tensorfs ls: a header line plus one line per tensor holding name, dtype, shape, bytes and shard;
# works on every layout (sharded, diffusers, single file, folder with one file).
. "$(dirname "$0")/lib.sh"

$GEN sharded "$T/sh" --tensors 230 --shards 3 --seed 111 -q || fail "gen sharded"
$GEN diffusers "$T/sd" --tensors 60 --seed 112 -q || fail "gen diffusers"
$GEN single "$T/one.safetensors" --tensors 20 --seed 113 -q || fail "gen single"
$GEN names "$T/names" --seed 114 -q || fail "gen names"

for ck in "$T/sh" "$T/sd" "$T/one.safetensors" "$T/names"; do
	name=$(basename "$ck")
	"$TENSORFS" ls "$ck" >"$T/ls.out" 2>"$T/ls.err"
	rc=$?
	check "ls $name exits 0 (rc=$rc: $(head -c 200 "$T/ls.err"))" test $rc = 0
	n=$(manifest_get "$ck.manifest.json" "len(m['tensors'])")
	lines=$(wc -l <"$T/ls.out")
	check "ls $name: header + $n lines (got $lines)" test "$lines" = $((n + 1))
	[ "$name" = names ] && continue # names with newlines/tabs: only the count is pinned down
	# every tensor has a line with its name (or key), dtype, bytes, shard, and its shape's numbers
	$PY - "$ck.manifest.json" "$T/ls.out" <<'EOF' || fail "ls $name: lines do not match the manifest"
import json, re, sys
m = json.load(open(sys.argv[1]))
lines = open(sys.argv[2], encoding="utf-8").read().splitlines()
head, rows = lines[0].lower(), lines[1:]
bad = 0
for col in ("name", "dtype", "shape", "bytes", "shard"):
    if col not in head:
        print("header lacks %r: %r" % (col, lines[0])); bad += 1
by_tok = {}
for r in rows:
    for tok in r.split():
        by_tok.setdefault(tok, []).append(r)
for t in m["tensors"]:
    cands = by_tok.get(t["key"], []) + by_tok.get(t["name"], [])
    ok = False
    for r in cands:
        toks = r.split()
        nums = [int(x) for x in re.findall(r"\d+", r.replace(t["key"], " ").replace(t["shard"], " "))]
        if t["dtype"] in toks and str(t["length"]) in toks and (t["shard"] in toks or
                t["shard"].split("/")[-1] in toks) and all(d in nums for d in t["shape"]):
            ok = True
    if not ok:
        bad += 1
        if bad < 6:
            print("no matching line for %s (%s %s %d %s); candidates: %r" % (
                t["key"], t["dtype"], t["shape"], t["length"], t["shard"], cands[:2]))
sys.exit(1 if bad else 0)
EOF
	ok
done
tfs_done
