#!/bin/bash
# mount-scripts/mount.tensorfs, the helper mount(8) and fstab run: tensorfs options given as
# `-o name=value` reach the daemon as flags (the mount's stats and tree show them), generic mount
# options are dropped, and a bad value fails the mount with tensorfs' own message.
. "$(dirname "$0")/lib.sh"

HELPER=$REPO/mount-scripts/mount.tensorfs
CK=$T/ck MNT=$T/mnt
$GEN sharded "$CK" --tensors 12 --shards 2 --size-mb 2 -q || { fail "gen_ckpt"; tfs_done; }
mkdir -p "$MNT"
track_mount "$MNT"
if TENSORFS=$TENSORFS sh "$HELPER" "$CK" "$MNT" -o defaults,noauto,x-systemd.automount,cache_size=64M,strategy=lazy,view=npy,kernel_copy=two,passthrough=off,profile_dir=off 2>"$T/err"; then
	check "mounted through the helper" is_mounted "$MNT"
	check "no output ($(head -c 300 "$T/err"))" test ! -s "$T/err"
	st=$(cat "$MNT/.tensorfs/stats")
	check "cache_size=64M reached the daemon" grep -q '"cache_budget": 67108864' <<<"$st"
	check "strategy=lazy reached the daemon" grep -q '"strategy": "lazy"' <<<"$st"
	check "kernel_copy=two reached the daemon" grep -q '"kernel_copy": "two"' <<<"$st"
	check "passthrough=off reached the daemon" grep -q '"passthrough": "off"' <<<"$st"
	check "profile_dir=off reached the daemon" grep -q '"profile": "off"' <<<"$st"
	f=$MNT/$(manifest_get "$CK.manifest.json" 'm["tensors"][0]["path"]').npy
	check "view=npy: $f is an .npy file" test "$(head -c 6 "$f" | tail -c 5)" = NUMPY
	tfs_unmount "$MNT"
else
	fail "mount through the helper failed: $(head -c 300 "$T/err")"
fi
out=$(TENSORFS=$TENSORFS sh "$HELPER" "$CK" "$MNT" -o kernel_copy=three 2>&1)
check "kernel_copy=three fails the mount" test $? != 0
check "with tensorfs' message ($out)" grep -q -- "--kernel-copy three" <<<"$out"
check "and nothing mounted" eval "! is_mounted $MNT"
tfs_done
