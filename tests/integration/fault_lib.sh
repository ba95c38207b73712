# fault_lib.sh - sourced by t_fault_*.sh after lib.sh: a pristine checkpoint, tensor picking by
# shard, and reading a mounted tensor into one of four outcomes.
#
# outcome MNT PATH SHA256 prints: ok (exact bytes), eio (read failed with EIO), err:N (another
# errno), wrong (the read succeeded with bytes that are not the tensor's): "wrong" is never allowed.

outcome() {
	$PY - "$1/$2" "$3" <<'PYEOF'
import errno, hashlib, sys
try:
    with open(sys.argv[1], "rb", buffering=0) as f:
        h = hashlib.sha256()
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    print("ok" if h.hexdigest() == sys.argv[2] else "wrong")
except OSError as e:
    print("eio" if e.errno == errno.EIO else "err:%s" % errno.errorcode.get(e.errno, e.errno))
PYEOF
}

# pick MANIFEST SHARD_INDEX N SKIP: "path sha256" of N non-empty tensors of the shard-th shard
# (in shard order), skipping the first SKIP of them; SKIP -1: the last N.
pick() {
	$PY - "$1" "$2" "$3" "$4" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
shards = sorted({t["shard"] for t in m["tensors"]})
s = shards[int(sys.argv[2])]
ts = [t for t in m["tensors"] if t["shard"] == s and t["length"] > 0]
k, n = int(sys.argv[4]), int(sys.argv[3])
for t in (ts[k:k + n] if k >= 0 else ts[-n:]):
    print(t["path"], t["sha256"])
PYEOF
}

shard_name() { # shard_name MANIFEST INDEX
	$PY -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sorted({t["shard"] for t in m["tensors"]})[int(sys.argv[2])])' "$1" "$2"
}

# Drops the kernel's page cache, so a re-read of a tensor read before the fault reaches the daemon.
# Returns 1 (and says so once) where that is not allowed.
# It drops the whole machine's page cache: TFS_IT_NO_DROP_CACHES=1 skips it (next to a benchmark).
drop_caches() { # no sync first: FUSE pages are never dirty, and a global sync can take long
	[ "${TFS_IT_NO_DROP_CACHES:-}" = 1 ] && { DROP_WARNED=1; return 1; }
	if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then return 0; fi
	[ -n "${DROP_WARNED:-}" ] || echo "note: cannot write /proc/sys/vm/drop_caches here; pages read before a fault may still come from the kernel's page cache"
	DROP_WARNED=1
	return 1
}

# Does this tensorfs check file identity (filecheck.c linked in)? Cases that only identity
# checking can catch are known gaps without it.
has_filecheck() { grep -q "the path now names another file" "$TENSORFS"; }
