#!/bin/bash
# An unreadable subfolder (issue 10, class 4): a checkpoint folder holding a 0700 lost+found and a
# 0600 file of root's. For another user, `tensorfs ls` and `mount` used to fail ("cannot list");
# they must skip what cannot be read, with a warning naming it, and serve the checkpoint.
. "$(dirname "$0")/lib.sh"

second_user

CK=$T/ck
$GEN sharded "$CK" --tensors 6 --shards 2 --seed 9 --size-mb 1 -q || { fail "gen_ckpt"; tfs_done; }
MF=$CK.manifest.json
chmod -R o+rX "$CK"
mkdir -m 0700 "$CK/lost+found"
echo secret >"$CK/secret.txt"
chmod 0600 "$CK/secret.txt"
TP=$(manifest_get "$MF" "next(t['path'] for t in m['tensors'] if t['length'] > 0)")
SHA=$(manifest_get "$MF" "next(t['sha256'] for t in m['tensors'] if t['length'] > 0)")

out=$(as_user "$TENSORFS" ls "$CK" 2>&1)
rc=$?
check "ls as $U succeeds (rc $rc): $(echo "$out" | grep -m1 -i 'cannot')" test "$rc" = 0
check "ls warns about lost+found" grep -q "lost+found: skipped" <<<"$out"
check "ls warns about secret.txt" grep -q "secret.txt: skipped" <<<"$out"

# The mount part needs /dev/fuse open to other users (Debian's default).
if ! user_can_fuse; then
	echo "SKIP (mount part): /dev/fuse is not open to other users here (TFS_IT_CHMOD_FUSE=1 opens it)"
	tfs_done
fi
MNT=$T/mnt
mkdir -p "$MNT"
chown "$U" "$MNT"
track_mount "$MNT"
err=$(as_user "$TENSORFS" mount "$CK" "$MNT" 2>&1)
rc=$?
echo "mount as $U: rc $rc; ${err//$'\n'/; }"
check "mount as $U succeeds (rc $rc)" test "$rc" = 0
check "mount warns about lost+found" grep -q "lost+found: skipped" <<<"$err"
if is_mounted "$MNT"; then
	got=$(as_user sha256sum "$MNT/$TP" | cut -d' ' -f1)
	check "a tensor reads exactly as $U" test "$got" = "$SHA"
	check "lost+found is not shown" test "$(as_user ls "$MNT" | grep -c 'lost+found')" = 0
	as_user fusermount3 -u "$MNT" || fail "fusermount3 -u as $U"
fi
tfs_done
