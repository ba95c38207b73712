#!/bin/bash
# Privileges: a mount is read-only (mode 0444 files, 0555 folders; writes, chmod, mkdir, rm refused
# with EROFS), owned by the mounting user, mounted ro,nosuid,nodev, and -- without -o allow_other --
# unreadable by anyone else, root included when the mount is a user's. With -o allow_other other
# users can read it. A non-root user can mount and unmount where /dev/fuse lets them (Debian's
# default is 0666; where it is not, that part is skipped, or run with TFS_IT_CHMOD_FUSE=1 to open
# /dev/fuse for the duration of the test).
. "$(dirname "$0")/lib.sh"

second_user

CK=$T/ck
$GEN single "$CK.safetensors" --tensors 8 --seed 5 -q || { fail "gen_ckpt"; tfs_done; }
mkdir -p "$CK"
mv "$CK.safetensors" "$CK/model.safetensors"
chmod -R o+rX "$CK"
MF=$CK.safetensors.manifest.json
TP=$(manifest_get "$MF" "next(t['path'] for t in m['tensors'] if t['length'] > 0)")
OFF=$(manifest_get "$MF" "next(t['offset'] for t in m['tensors'] if t['length'] > 0)")
LEN=$(manifest_get "$MF" "next(t['length'] for t in m['tensors'] if t['length'] > 0)")
dd if="$CK/model.safetensors" iflag=skip_bytes,count_bytes skip="$OFF" count="$LEN" status=none >"$T/want"
MNT=$T/mnt

# 1. root's mount, defaults
tfs_mount "$CK" "$MNT" || tfs_done
F=$MNT/$TP
check "tensor file mode 444, owner root" test "$(stat -c '%a %u' "$F")" = "444 0"
check "folder mode 555" test "$(stat -c '%a' "$(dirname "$F")")" = 555
check "root folder mode 555" test "$(stat -c '%a' "$MNT")" = 555
opts=$(awk -v m="$MNT" '$5 == m { print $6 }' /proc/self/mountinfo)
echo "mount options: $opts"
check "mounted ro" eval "echo '$opts' | grep -qw ro"
check "mounted nosuid,nodev" eval "echo '$opts' | grep -qw nosuid && echo '$opts' | grep -qw nodev"
for op in "touch '$MNT/new'" "mkdir '$MNT/d'" "rm -f '$F'" "chmod 666 '$F'" "sh -c 'echo x >> \"$F\"'" "mv '$F' '$MNT/moved'" "setfattr -n user.x -v 1 '$F'"; do
	out=$(eval "$op" 2>&1) && fail "write op allowed: $op" ||
		check "refused read-only: $op ($out)" eval "echo \"\$out\" | grep -qi 'read-only'"
done
check "root reads exact bytes" cmp -s "$F" "$T/want"
out=$(as_user cat "$F" 2>&1 >/dev/null)
check "another user cannot read without allow_other ($out)" eval "echo \"\$out\" | grep -q 'Permission denied'"
check "another user cannot list without allow_other" eval "! as_user ls '$MNT' >/dev/null 2>&1"
tfs_unmount "$MNT"

# 2. -o allow_other: others may read (modes still apply: 0444 and 0555), never write
tfs_mount "$CK" "$MNT" -o allow_other || tfs_done
as_user cat "$F" >"$T/got.other" 2>/dev/null
check "allow_other: another user reads exact bytes" cmp -s "$T/got.other" "$T/want"
check "allow_other: another user cannot write" eval "! as_user touch '$MNT/x' 2>/dev/null"
tfs_unmount "$MNT"

# 3. a non-root user's mount
if ! user_can_fuse; then
	echo "SKIP non-root mount: /dev/fuse is mode $(stat -c %a /dev/fuse) here, $U cannot open it (Debian's default is 0666; TFS_IT_CHMOD_FUSE=1 opens it for this test)"
	tfs_done
fi
UM=$T/umnt
mkdir -p "$UM"
chown "$U" "$UM"
track_mount "$UM"
if as_user "$TENSORFS" mount "$CK" "$UM" 2>"$T/umount.err"; then
	check "user mount: files owned by $U" test "$(as_user stat -c %U "$UM/$TP")" = "$U"
	as_user cat "$UM/$TP" >"$T/got.user" 2>/dev/null
	check "user mount: the user reads exact bytes" cmp -s "$T/got.user" "$T/want"
	check "user mount: mode 444" test "$(as_user stat -c %a "$UM/$TP")" = 444
	out=$(cat "$UM/$TP" 2>&1 >/dev/null)
	check "user mount: root cannot read it without allow_other ($out)" eval "echo \"\$out\" | grep -q 'Permission denied'"
	mkdir -p "$T/umnt2"
	chown "$U" "$T/umnt2"
	track_mount "$T/umnt2"
	if grep -q '^user_allow_other' /etc/fuse.conf 2>/dev/null; then
		echo "note: /etc/fuse.conf has user_allow_other: users may pass -o allow_other"
	else
		out=$(as_user "$TENSORFS" mount -o allow_other "$CK" "$T/umnt2" 2>&1)
		check "user mount: -o allow_other refused without user_allow_other ($out)" eval "! is_mounted '$T/umnt2'"
	fi
	check "user mount: user unmounts with fusermount3 -u" as_user fusermount3 -u "$UM"
else
	fail "user mount failed: $(cat "$T/umount.err")"
fi
tfs_done
