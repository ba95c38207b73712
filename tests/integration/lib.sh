# lib.sh - sourced by the shell integration tests (t_*.sh): temp dir, checkpoints, mounts, checks.
#
# Sets T (a fresh temp dir, removed on exit), PY, GEN. Every mount made with tfs_mount or registered
# with track_mount is unmounted on exit, whatever the reason (failure, set -e, SIGTERM from run.sh).
# Checks call ok/fail; tfs_done exits 1 if any failed.
set -u
: "${TENSORFS:?TENSORFS must name the tensorfs binary}"
IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$IT_DIR/../.." && pwd)
PY=/usr/bin/python3
GEN="$PY $REPO/tests/gen_ckpt.py"
TEST_NAME=$(basename "$0")
mkdir -p "${TFS_IT_TMP:-/tmp}"
T=$(mktemp -d "${TFS_IT_TMP:-/tmp}/sh.XXXXXX")
FAILS=0
CHECKS=0
MOUNTS=""

is_mounted() { # mountpoint, without touching it (a dead daemon would give ENOTCONN or hang)
	awk -v m="$1" '{ p = $5; gsub(/\\040/, " ", p); if (p == m) f = 1 } END { exit !f }' /proc/self/mountinfo
}

daemon_pids() { # pids of processes whose argv holds "mount" and the exact mountpoint $1
	local d args
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" = "$$" ] && continue
		args=$({ tr '\0' '\n' <"$d/cmdline"; } 2>/dev/null) || continue
		printf '%s\n' "$args" | grep -qxF -- "$1" || continue
		printf '%s\n' "$args" | grep -qx -- mount || continue
		echo "${d#/proc/}"
	done
}

pid_alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

wait_until() { # wait_until SECONDS CMD...: polls CMD every 0.05 s
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	while [ "$(date +%s%N)" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

force_unmount() {
	is_mounted "$1" && fusermount3 -u -z "$1" 2>/dev/null
	is_mounted "$1" && umount -l "$1" 2>/dev/null
	return 0
}

track_mount() { MOUNTS="$MOUNTS $1"; }

cleanup() {
	local m p pids
	for m in $MOUNTS; do
		pids=$(daemon_pids "$m")
		if is_mounted "$m"; then
			fusermount3 -u "$m" 2>/dev/null
			wait_until 5 eval "! is_mounted '$m'" || force_unmount "$m"
		fi
		for p in $pids; do
			wait_until 10 eval "! pid_alive $p" || kill -KILL "$p" 2>/dev/null
		done
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

ok() { CHECKS=$((CHECKS + 1)); }
fail() {
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	echo "FAIL $TEST_NAME: $*"
}
warn() { echo "WARN $TEST_NAME: $* (not a failure: beyond the spec)"; }
check() { # check "what" CMD...: CMD must succeed
	local what=$1
	shift
	if "$@"; then ok; else fail "$what (command: $*)"; fi
}

# tfs_mount CKPT MNT [opts...]: daemon-mode mount; fails the test if it does not come up, or if the
# mount command prints a line that the regex in MOUNT_ERR_OK (warnings a test provokes) does not
# match: output nobody expected is a failure, as in libfuse's own tests.
tfs_mount() {
	local ck=$1 mnt=$2 extra
	shift 2
	mkdir -p "$mnt"
	track_mount "$mnt"
	if ! "$TENSORFS" mount "$@" "$ck" "$mnt" 2>"$T/mount.err"; then
		fail "mount failed: $TENSORFS mount $* $ck $mnt: $(cat "$T/mount.err")"
		return 1
	fi
	if ! is_mounted "$mnt"; then
		fail "mount returned 0 but $mnt is not mounted: $TENSORFS mount $* $ck $mnt"
		return 1
	fi
	extra=$(grep -v -E "^\s*\$${MOUNT_ERR_OK:+|$MOUNT_ERR_OK}" "$T/mount.err")
	[ -z "$extra" ] || fail "unexpected output from $TENSORFS mount $* $ck $mnt: $(head -c 300 <<<"$extra")"
	return 0
}

tfs_unmount() { # tfs_unmount MNT: fusermount3 -u and wait for the daemon to exit
	local pids p
	pids=$(daemon_pids "$1")
	fusermount3 -u "$1" || { fail "fusermount3 -u $1 failed"; force_unmount "$1"; }
	for p in $pids; do
		wait_until 10 eval "! pid_alive $p" || fail "daemon $p still running 10 s after unmount of $1"
	done
}

# manifest_get MANIFEST PYEXPR: prints PYEXPR evaluated with m = the manifest (json)
manifest_get() {
	$PY -c 'import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# read_all_tensors MANIFEST MNT: reads every non-empty tensor of the manifest through the mount in
# one process, sha256-checked; prints "N BAD" (tensors read, wrong or unreadable), each unreadable
# one's error on stderr.
read_all_tensors() {
	$PY - "$1" "$2" <<'PYEOF'
import hashlib, json, os, sys
m = json.load(open(sys.argv[1]))
n = bad = 0
for t in m["tensors"]:
    if t["length"] == 0:
        continue
    n += 1
    try:
        with open(os.path.join(sys.argv[2], t["path"]), "rb", buffering=0) as f:
            ok = hashlib.sha256(f.read()).hexdigest() == t["sha256"]
    except OSError as e:
        ok = False
        print("  %s: %s" % (t["path"], e), file=sys.stderr)
    bad += not ok
print("%d %d" % (n, bad))
PYEOF
}

# second_user: the permission tests' second, unprivileged user $U (created when missing and
# removed at exit), `as_user CMD...` to run as it, and $T made traversable for it (search only,
# no listing). Skips the test when not root or when useradd fails. Replaces the EXIT trap.
U=tfs-it-user
made_user=0
fuse_mode=""
second_user_cleanup() {
	[ -n "$fuse_mode" ] && chmod "$fuse_mode" /dev/fuse
	cleanup
	[ $made_user = 1 ] && userdel "$U" 2>/dev/null
}
as_user() { runuser -u "$U" -- "$@"; }
second_user() {
	local d=$T
	trap second_user_cleanup EXIT
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: needs root (to create a second user)"
		tfs_done
	fi
	if ! id "$U" >/dev/null 2>&1; then
		useradd -M -r -s /usr/sbin/nologin "$U" || { echo "SKIP: useradd failed"; tfs_done; }
		made_user=1
	fi
	while [ "$d" != / ] && [ "$d" != /tmp ] && [ "$(stat -c %u "$d")" = 0 ]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}

# user_can_fuse: whether $U can open /dev/fuse (Debian's default mode is 0666); where it cannot
# and TFS_IT_CHMOD_FUSE=1, opens it for the duration of the test (the mode comes back at exit).
user_can_fuse() {
	as_user test -r /dev/fuse -a -w /dev/fuse && return 0
	[ "${TFS_IT_CHMOD_FUSE:-}" = 1 ] || return 1
	fuse_mode=$(stat -c %a /dev/fuse)
	chmod 666 /dev/fuse
}

# shim NAME: builds the LD_PRELOAD fault shim tests/integration/NAME.c into $T/NAME.so and sets
# SHIM to it; a build failure fails and ends the test.
shim() {
	SHIM=$T/$1.so
	cc -shared -fPIC -O1 -o "$SHIM" "$IT_DIR/$1.c" -ldl || { fail "cannot build the $1 shim"; tfs_done; }
}

# bad_plugins DIR: shared objects a plugin loader must refuse with a clear reason, for the plugin
# tests: DIR/garbage.so (not ELF), DIR/needs.so (needs libtfsgone.so, which is gone) and DIR/gone.so
# (loads, but has no entry point). Returns 1 when there is no C compiler (then only garbage.so).
bad_plugins() {
	echo "not an ELF file" >"$1/garbage.so"
	command -v cc >/dev/null || return 1
	echo 'int tfs_gone(void) { return 0; }' >"$1/gone.c"
	echo 'int tfs_gone(void); int use(void) { return tfs_gone(); }' >"$1/needs.c"
	cc -shared -fPIC -o "$1/libtfsgone.so" "$1/gone.c" && cp "$1/libtfsgone.so" "$1/gone.so" &&
		cc -shared -fPIC -o "$1/needs.so" "$1/needs.c" -L"$1" -ltfsgone && rm "$1/libtfsgone.so"
}

# refuses_bad_plugins PREFIX KIND ENV SYMBOL: with each of bad_plugins' files named by $ENV, the
# caller's expect_msg DESCRIPTION REGEX ENV=... must see one clear line after PREFIX ("tensorfs
# load: cuda:0: "): the loader's reason for a missing dependency, "another build" for no SYMBOL,
# "cannot load" for a file that is not ELF.
refuses_bad_plugins() {
	local pre=$1 kind=$2 env=$3 sym=$4
	if bad_plugins "$T"; then
		expect_msg "plugin with a missing dependency" \
			"^${pre}cannot load the $kind plugin $T/needs.so: libtfsgone.so: cannot open shared object file.*" \
			"$env=$T/needs.so"
		expect_msg "a shared object without the entry point" \
			"^${pre}the $kind plugin $T/gone.so is from another build of tensorfs \(no $sym\)$" \
			"$env=$T/gone.so"
	fi
	expect_msg "unloadable plugin" "^${pre}cannot load the $kind plugin $T/garbage.so: .+" \
		"$env=$T/garbage.so"
}

tfs_done() {
	if [ "$FAILS" -gt 0 ]; then
		echo "$TEST_NAME: $FAILS of $CHECKS checks failed"
		exit 1
	fi
	echo "$TEST_NAME: $CHECKS checks ok"
	exit 0
}
