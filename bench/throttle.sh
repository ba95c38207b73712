# bench/throttle.sh - sourced by bench/run.sh: the "throttled" profile, a network-disk stand-in.
# The bench's own shell joins a block-I/O cgroup capped at THR_IOPS reads/s and THR_BPS bytes/s on
# the disk that holds BENCH_DIR, and that disk's read_ahead_kb is set to THR_RA_KB; every reader and
# every tensorfs daemon started meanwhile inherits the cgroup. throttle_off undoes all of it (run.sh
# calls it from its EXIT trap too). cgroup v1 (blkio.throttle.*) or v2 (io.max) as root; when
# neither can be set up, throttle_setup says why and returns 1 (the profile is skipped).
#
# Uses log() from run.sh. State (set by throttle_setup): THR_DEV (MAJ:MIN of the whole disk),
# THR_CG (the cgroup folder), THR_KIND (v1|v2), THR_HOME (the cgroup.procs the shell came from),
# THR_RA_FILE / THR_RA_OLD (the disk's read_ahead_kb and its value before), THR_ON (1 while joined).

THR_IOPS=${BENCH_THROTTLE_IOPS:-300}
THR_BPS=${BENCH_THROTTLE_BPS:-400000000}
THR_RA_KB=${BENCH_THROTTLE_RA_KB:-128}
THR_DEV="" THR_CG="" THR_KIND="" THR_HOME="" THR_RA_FILE="" THR_RA_OLD="" THR_ON=""

# throttle_setup DIR: creates the cgroup for the disk holding DIR; 0, or 1 with a logged reason.
throttle_setup() {
	local dev sys
	[ "$(id -u)" = 0 ] || { log "bench: throttled profile skipped: needs root (cgroups, read_ahead_kb)"; return 1; }
	dev=$(findmnt -no MAJ:MIN -T "$1" 2>/dev/null | head -1 | tr -d ' ')
	[ -n "$dev" ] || { log "bench: throttled profile skipped: no block device under $1"; return 1; }
	sys=/sys/dev/block/$dev
	# limits and read_ahead_kb belong to the whole disk, not a partition
	[ -e "$sys/partition" ] && sys=$(readlink -f "$sys/..") && dev=$(cat "$sys/dev")
	[ -w "$sys/queue/read_ahead_kb" ] ||
		{ log "bench: throttled profile skipped: $1 is on $dev, which has no writable queue/read_ahead_kb (not a plain disk?)"; return 1; }
	THR_DEV=$dev
	THR_RA_FILE=$sys/queue/read_ahead_kb
	if [ -w /sys/fs/cgroup/blkio/cgroup.procs ] && [ -e /sys/fs/cgroup/blkio/blkio.throttle.read_iops_device ]; then
		THR_KIND=v1
		THR_CG=/sys/fs/cgroup/blkio/tensorfs-bench-$$
		THR_HOME=/sys/fs/cgroup/blkio$(awk -F: '$2 == "blkio" { print $3 }' /proc/self/cgroup)/cgroup.procs
		mkdir -p "$THR_CG" &&
			echo "$dev $THR_IOPS" >"$THR_CG/blkio.throttle.read_iops_device" &&
			echo "$dev $THR_BPS" >"$THR_CG/blkio.throttle.read_bps_device" ||
			{ log "bench: throttled profile skipped: cannot set blkio limits in $THR_CG"; throttle_off; return 1; }
	else
		local root
		root=$(findmnt -no TARGET -t cgroup2 | head -1)
		if [ -z "$root" ] || ! grep -qw io "$root/cgroup.controllers" 2>/dev/null; then
			log "bench: throttled profile skipped: neither cgroup v1 blkio nor a cgroup v2 io controller here"
			return 1
		fi
		THR_KIND=v2
		THR_HOME=$root$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)/cgroup.procs
		THR_CG=$root/tensorfs-bench-$$
		grep -qw io "$root/cgroup.subtree_control" || echo +io >"$root/cgroup.subtree_control" 2>/dev/null
		mkdir -p "$THR_CG" && echo "$dev riops=$THR_IOPS rbps=$THR_BPS" >"$THR_CG/io.max" ||
			{ log "bench: throttled profile skipped: cannot write io.max in $THR_CG"; throttle_off; return 1; }
	fi
	log "bench: throttled profile: cgroup $THR_KIND $THR_CG on $dev: $THR_IOPS reads/s, $THR_BPS B/s," \
	    "read_ahead_kb $THR_RA_KB (was $(cat "$THR_RA_FILE"))"
	return 0
}

# throttle_on: the shell joins the cgroup and the disk's readahead drops to THR_RA_KB.
throttle_on() {
	[ -n "$THR_CG" ] || return 1
	THR_RA_OLD=$(cat "$THR_RA_FILE")
	echo "$THR_RA_KB" >"$THR_RA_FILE" || return 1
	echo $$ >"$THR_CG/cgroup.procs" || { echo "$THR_RA_OLD" >"$THR_RA_FILE"; return 1; }
	THR_ON=1
}

# throttle_leave: back to the shell's own cgroup and the disk's old readahead (cgroup kept).
throttle_leave() {
	[ -n "$THR_ON" ] || return 0
	echo $$ >"$THR_HOME" 2>/dev/null || log "bench: cannot move the bench back to $THR_HOME"
	[ -n "$THR_RA_OLD" ] && echo "$THR_RA_OLD" >"$THR_RA_FILE"
	THR_ON=""
}

# throttle_off: leaves and removes the cgroup (waits for processes still in it, e.g. a daemon).
throttle_off() {
	throttle_leave
	[ -n "$THR_CG" ] && [ -d "$THR_CG" ] || return 0
	for _ in $(seq 50); do
		[ -s "$THR_CG/cgroup.procs" ] || break
		sleep 0.2
	done
	rmdir "$THR_CG" 2>/dev/null || log "bench: cannot remove $THR_CG (processes still in it: $(tr '\n' ' ' <"$THR_CG/cgroup.procs"))"
	THR_CG=""
}
