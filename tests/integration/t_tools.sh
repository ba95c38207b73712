#!/bin/bash
# Everyday tools on a mount: cat, cp, dd bs/skip/count, cmp, head|xxd, sha256sum, wc -c, stat, ls -l,
# find, getfattr -d, tar -- all see exactly the shard's bytes.
. "$(dirname "$0")/lib.sh"

CK=$T/ck
MNT=$T/mnt
$GEN sharded "$CK" --tensors 200 --shards 3 --seed 41 --size-mb 8 -q || { fail "gen_ckpt"; tfs_done; }
MF=$CK.manifest.json
tfs_mount "$CK" "$MNT" || tfs_done

# slice FILE OFFSET LENGTH: the bytes of a tensor straight from its shard
slice() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }

for idx in 0 5 17 42 99; do
	path=$(manifest_get "$MF" "m['tensors'][$idx]['path']")
	shard=$(manifest_get "$MF" "m['tensors'][$idx]['shard']")
	off=$(manifest_get "$MF" "m['tensors'][$idx]['offset']")
	len=$(manifest_get "$MF" "m['tensors'][$idx]['length']")
	f="$MNT/$path"
	slice "$CK/$shard" "$off" "$len" >"$T/want"
	check "cat $path" cmp -s "$T/want" <(cat "$f")
	check "cmp $path" cmp -s "$f" "$T/want"
	check "cp $path" eval "cp '$f' '$T/copy' && cmp -s '$T/copy' '$T/want'"
	check "wc -c $path" test "$(wc -c <"$f")" = "$len"
	check "stat %s %a $path" test "$(stat -c '%s %a %F' "$f")" = "$len 444 regular file" -o \
		"$(stat -c '%s %a %F' "$f")" = "$len 444 regular empty file"
	check "sha256sum $path" test "$(sha256sum <"$f" | cut -d' ' -f1)" = \
		"$(manifest_get "$MF" "m['tensors'][$idx]['sha256']")"
	check "head -c 64 | xxd $path" test "$(head -c 64 "$f" | xxd)" = "$(head -c 64 "$T/want" | xxd)"
	# dd with block sizes and skips that do not line up with anything
	for bs in 1 3 512 4096 65536 1048576; do
		for skip in 0 1 7; do
			dd if="$f" bs=$bs skip=$skip count=5 status=none >"$T/dd.got" 2>"$T/dd.err" ||
				fail "dd bs=$bs skip=$skip $path: $(cat "$T/dd.err")"
			s=$((bs * skip))
			n=$((bs * 5))
			if [ $s -ge "$len" ]; then : >"$T/dd.want"; else
				[ $((s + n)) -gt "$len" ] && n=$((len - s))
				slice "$T/want" $s $n >"$T/dd.want"
			fi
			check "dd bs=$bs skip=$skip $path" cmp -s "$T/dd.got" "$T/dd.want"
		done
	done
done

check "ls -l dir" eval "ls -l '$MNT/model/layers/0' >/dev/null"
check "ls -l shows r-xr-xr-x dirs" eval "ls -ld '$MNT/model' | grep -q '^dr-xr-xr-x'"
check "ls -lR" eval "ls -lR '$MNT' >/dev/null"
n_files=$(find "$MNT" -type f -not -path "$MNT/.tensorfs/*" | wc -l)
want_files=$(manifest_get "$MF" "len(m['tensors']) + len(m['files'])")
check "find -type f count ($n_files vs $want_files)" test "$n_files" = "$want_files"
path=$(manifest_get "$MF" "m['tensors'][3]['path']")
dt=$(manifest_get "$MF" "m['tensors'][3]['dtype']")
check "getfattr -d" eval "getfattr -d '$MNT/$path' 2>/dev/null | grep -qx 'user.tensorfs.dtype=\"$dt\"'"
check "cmp config.json" cmp -s "$MNT/config.json" "$CK/config.json"
check "cmp shard file passthrough" cmp -s "$MNT/model-00002-of-00003.safetensors" "$CK/model-00002-of-00003.safetensors"
check "cmp index passthrough" cmp -s "$MNT/model.safetensors.index.json" "$CK/model.safetensors.index.json"
check "tar of a subtree" eval "tar -C '$MNT' -cf '$T/x.tar' model/layers/1 && tar -tf '$T/x.tar' | grep -q weight"
check "python json.load index.json" $PY -c "import json,sys; json.load(open(sys.argv[1]))" "$MNT/.tensorfs/index.json"
check "cat stats" eval "cat '$MNT/.tensorfs/stats' | $PY -c 'import json,sys; json.load(sys.stdin)'"
tfs_unmount "$MNT"
check "unmounted" eval "! is_mounted '$MNT'"
tfs_done
