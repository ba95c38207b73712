#!/bin/bash
# Stale bytes after a change (issue 10, class 8): a shard changes under a live mount after every
# tensor was read once, so the kernel's page cache of the mount holds them all. Without a change
# watch those pages keep being served (30 stale tensors of 60 on a 3-shard checkpoint); with it,
# every tensor of the changed shard gives EIO at once -- without dropping any cache by hand --
# and the other shards stay exact. Cases: overwritten in place (same size), truncated, renamed
# over, touched (mtime only), a Hugging Face cache's blob (the shard is a link to it) written, and
# (as root) another file bind-mounted over the shard, which inotify never reports: the daemon sees
# it through the mount table (/proc/self/mountinfo) with no read asking.
# Prints "stale reads after a change: N".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

PRISTINE=$T/pristine
$GEN sharded "$PRISTINE" --tensors 60 --shards 3 --seed 7 --size-mb 6 -q || { fail "gen_ckpt"; tfs_done; }
MF=$PRISTINE.manifest.json
VICTIM=$(shard_name "$MF" 1)

all_of_shard() { # all_of_shard INDEX: "path sha256" of every non-empty tensor of that shard
	pick "$MF" "$1" 1000 0
}

stale_total=0
cases="overwrite truncate rename_over touch hf_blob"
[ "$(id -u)" = 0 ] && cases="$cases bind_over"
for c in $cases; do
	ck=$T/ck.$c mnt=$T/mnt.$c log=$T/log.$c bind=
	cp -a "$PRISTINE" "$ck"
	if [ "$c" = hf_blob ]; then
		# A Hugging Face cache: the shard is a link to a blob in another folder, and the blob
		# is what gets written.
		mkdir -p "$T/blobs.$c"
		mv "$ck/$VICTIM" "$T/blobs.$c/blob"
		ln -s "$T/blobs.$c/blob" "$ck/$VICTIM"
	fi
	tfs_mount "$ck" "$mnt" --log "$log" || continue
	mapfile -t victim < <(all_of_shard 1)
	mapfile -t other < <(all_of_shard 0; all_of_shard 2)
	# Into the kernel's page cache.
	n_ok=$(printf '%s\n' "${victim[@]}" "${other[@]}" | outcomes "$mnt" | grep -c '^ok$')
	check "$c: before the change: every tensor exact ($n_ok)" test "$n_ok" = $((${#victim[@]} + ${#other[@]}))
	f=$ck/$VICTIM
	size=$(stat -L -c %s "$f")
	case $c in
	hf_blob) head -c "$size" /dev/urandom | dd of="$T/blobs.$c/blob" bs=1M conv=notrunc status=none ;;
	overwrite) head -c "$size" /dev/urandom | dd of="$f" bs=1M conv=notrunc status=none ;;
	truncate) truncate -s $((size / 2)) "$f" ;;
	rename_over) head -c "$size" /dev/urandom >"$f.tmp" && mv -f "$f.tmp" "$f" ;;
	touch) touch -d "2001-01-01" "$f" ;;
	bind_over)
		head -c "$size" /dev/urandom >"$T/other.$c"
		mount --bind "$T/other.$c" "$f" && bind=$f ;;
	esac
	check "$c: the daemon noticed the change at once" wait_until 5 grep -q "$VICTIM changed on disk" "$log"
	stale=0 wrong=0 eio=0
	while read -r o; do
		case $o in
		ok) stale=$((stale + 1)) ;;
		eio) eio=$((eio + 1)) ;;
		*) wrong=$((wrong + 1)) ;;
		esac
	done < <(printf '%s\n' "${victim[@]}" | outcomes "$mnt")
	echo "$c: stale reads after a change: $stale of ${#victim[@]} tensors (EIO: $eio, wrong: $wrong)"
	stale_total=$((stale_total + stale))
	check "$c: no stale bytes ($stale of ${#victim[@]} tensors served from before the change)" test "$stale" = 0
	check "$c: no wrong bytes ($wrong)" test "$wrong" = 0
	check "$c: every tensor of $VICTIM gives EIO ($eio of ${#victim[@]})" test "$eio" = ${#victim[@]}
	n_ok=$(printf '%s\n' "${other[@]}" | outcomes "$mnt" | grep -c '^ok$')
	check "$c: the other shards stay exact ($n_ok of ${#other[@]})" test "$n_ok" = ${#other[@]}
	[ -n "$bind" ] && umount "$bind"
	tfs_unmount "$mnt"
done
echo "stale reads after a change: $stale_total"
tfs_done
