#!/bin/bash
# valgrind (memcheck) on a foreground mount: read tensors, xattrs, virtual files, list the tree, then
# fusermount3 -u; the daemon must exit 0 with "ERROR SUMMARY: 0 errors" and no definite leaks.
# Twice: the default strategy, and lazy with a tiny cache so eviction paths run too.
. "$(dirname "$0")/lib.sh"

if ! command -v valgrind >/dev/null; then
	echo "valgrind not installed (make deps)"
	fail "valgrind missing"
	tfs_done
fi
CK=$T/ck
MNT=$T/mnt
$GEN sharded "$CK" --tensors 30 --shards 3 --seed 131 --size-mb 1 -q || { fail "gen"; tfs_done; }
MF=$CK.manifest.json
mkdir -p "$MNT"
track_mount "$MNT"

run_one() { # run_one TAG [mount options...]
	local tag=$1
	shift
	local log="$T/vg.$tag.log"
	# fuse-compatible: the daemon stat()s its own mount point from a helper thread (to find the bdi
	# once INIT is answered); valgrind runs stat with its big lock held unless told the call may
	# block on FUSE, and the session thread could then never answer: a valgrind-only deadlock
	valgrind -q --sim-hints=fuse-compatible --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=99 --log-file="$log" \
		"$TENSORFS" mount -f "$@" "$CK" "$MNT" 2>"$T/vg.$tag.err" &
	local vg=$! # valgrind execs the tool in place: this pid is the daemon
	if ! wait_until 90 is_mounted "$MNT"; then
		fail "$tag: not mounted within 90 s under valgrind: $(tail -c 500 "$T/vg.$tag.err") $(tail -c 500 "$log")"
		kill -KILL $vg 2>/dev/null
		return
	fi
	# a bit of everything: tensors (whole and partial), passthrough, xattrs, virtual files, readdir
	timeout 120 $PY - "$MF" "$MNT" <<'EOF' || fail "$tag: reads under valgrind failed or hung (120 s)"
import json, os, sys
m = json.load(open(sys.argv[1])); mnt = sys.argv[2]
root = m["root"]
bad = 0
for t in m["tensors"][:12]:
    p = os.path.join(mnt, t["path"])
    with open(os.path.join(root, t["shard"]), "rb") as f:
        f.seek(t["offset"]); want = f.read(t["length"])
    with open(p, "rb") as f:
        got = f.read()
        bad += got != want
        bad += os.pread(f.fileno(), 100, max(0, t["length"] - 50)) != want[max(0, t["length"] - 50):]
    for n in os.listxattr(p):
        os.getxattr(p, n)
    bad += os.getxattr(p, "user.tensorfs.dtype").decode() != t["dtype"]
for rel in (".tensorfs/index.json", ".tensorfs/stats", "config.json"):
    with open(os.path.join(mnt, rel), "rb") as f:
        f.read()
for dp, dns, fns in os.walk(mnt):
    for fn in fns:
        os.stat(os.path.join(dp, fn))
try:
    os.stat(os.path.join(mnt, "no/such"))
except FileNotFoundError:
    pass
sys.exit(1 if bad else 0)
EOF
	fusermount3 -u "$MNT" || fail "$tag: fusermount3 -u"
	if wait_until 90 eval "! pid_alive $vg"; then
		wait $vg
		local rc=$?
		check "$tag: daemon exit 0 under valgrind (rc=$rc; 99 = valgrind found errors)" test $rc = 0
	else
		fail "$tag: daemon still running 90 s after unmount"
		kill -KILL $vg 2>/dev/null
	fi
	# -q prints only problems: an empty log is a clean run; otherwise look for the summary lines
	if [ -s "$log" ]; then
		check "$tag: ERROR SUMMARY: 0 errors" eval "! grep -q 'ERROR SUMMARY: [1-9]' '$log'"
		check "$tag: no definite leaks" eval "! grep -Eq 'definitely lost: [1-9]' '$log'"
		if [ $FAILS -gt 0 ]; then sed 's/^/    vg: /' "$log" | head -80; fi
	else
		ok
	fi
}
run_one default
run_one lazy --strategy lazy --block-size 65536 --cache-size 262144 --threads 2
tfs_done
