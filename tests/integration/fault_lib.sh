# fault_lib.sh - sourced by t_fault_*.sh and t_stale_after_change.sh after lib.sh: tensor picking
# by shard, and reading mounted tensors into one of four outcomes.
#
# outcomes MNT < "PATH SHA256" lines: reads each tensor through the mount (one process for all)
# and prints one outcome a line: ok (exact bytes), eio (read failed with EIO), err:N (another
# errno), wrong (the read succeeded with bytes that are not the tensor's): "wrong" is never allowed.
# outcome MNT PATH SHA256: the same for one tensor.
cat >"$T/outcomes.py" <<'PYEOF'
import errno, hashlib, os, sys
for line in sys.stdin.read().splitlines():
    path, sha = line.split()
    try:
        with open(os.path.join(sys.argv[1], path), "rb", buffering=0) as f:
            h = hashlib.sha256()
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
        print("ok" if h.hexdigest() == sha else "wrong")
    except OSError as e:
        print("eio" if e.errno == errno.EIO else "err:%s" % errno.errorcode.get(e.errno, e.errno))
PYEOF
outcomes() { $PY "$T/outcomes.py" "$1"; }
outcome() { printf '%s %s\n' "$2" "$3" | outcomes "$1"; }

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
