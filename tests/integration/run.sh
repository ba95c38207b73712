#!/bin/bash
# run.sh - runs the integration tests (tests/integration/t_*.sh and t_*.py) against a real mount.
#
# Usage: TENSORFS=/abs/build/tensorfs tests/integration/run.sh [-v] [NAME...]
#   NAME selects tests by substring (t_names, erofs...); -v prints every test's output, not only failures.
# Prints PASS/FAIL per test, then exactly one line "integration: N passed, M failed"; exits 1 on failure.
# Each test gets its own temp dir (TFS_IT_TMP) and a time limit; whatever it leaves mounted or running
# under that dir is unmounted and stopped here, so one broken test cannot wedge the next.
set -u
IT_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$IT_DIR/../.." && pwd)
export TENSORFS="${TENSORFS:-$REPO/build/tensorfs}"
case $TENSORFS in /*) ;; *) TENSORFS="$PWD/$TENSORFS" ;; esac
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
VERBOSE=0
SEL=()
for a in "$@"; do
	case $a in
	-v) VERBOSE=1 ;;
	-h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) SEL+=("$a") ;;
	esac
done

if [ ! -x "$TENSORFS" ]; then
	echo "run.sh: $TENSORFS is not an executable (set TENSORFS or run make)" >&2
	echo "integration: 0 passed, 1 failed"
	exit 1
fi
for need in fusermount3 getfattr; do
	command -v "$need" >/dev/null || { echo "run.sh: $need not found (make deps)" >&2; echo "integration: 0 passed, 1 failed"; exit 1; }
done
if [ ! -c /dev/fuse ]; then
	echo "run.sh: /dev/fuse missing: cannot mount here" >&2
	echo "integration: 0 passed, 1 failed"
	exit 1
fi
$PY -c 'import numpy' 2>/dev/null || { echo "run.sh: $PY has no numpy (make deps)" >&2; echo "integration: 0 passed, 1 failed"; exit 1; }

ROOT_TMP=$(mktemp -d /tmp/tfs-it.XXXXXX)
trap 'sweep "$ROOT_TMP"; rm -rf "$ROOT_TMP"' EXIT
trap 'exit 130' INT TERM

# Unmounts every mount under $1 and kills processes started with an argument under $1 (ours only:
# the folder is unique to this run).
sweep() {
	local base=$1 m d
	awk -v b="$base/" 'index($5, b) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" = "$$" ] && continue
		if { tr '\0' '\n' <"$d/cmdline"; } 2>/dev/null | grep -q "^$base/"; then
			kill -KILL "${d#/proc/}" 2>/dev/null
		fi
	done
}

limit_for() {
	case $1 in
	t_valgrind*) echo 240 ;;
	t_http*) echo 180 ;;
	*) echo 90 ;;
	esac
}

pass=0
fail=0
failed=()
start_all=$(date +%s)
for t in "$IT_DIR"/t_*.sh "$IT_DIR"/t_*.py; do
	[ -e "$t" ] || continue
	name=$(basename "$t")
	name=${name%.*}
	if [ ${#SEL[@]} -gt 0 ]; then
		hit=0
		for s in "${SEL[@]}"; do case $name in *"$s"*) hit=1 ;; esac; done
		[ $hit = 1 ] || continue
	fi
	tdir="$ROOT_TMP/$name"
	mkdir -p "$tdir"
	case $t in
	*.py) cmd=("$PY" "$t") ;;
	*) cmd=(bash "$t") ;;
	esac
	t0=$(date +%s%N)
	TFS_IT_TMP="$tdir" timeout -k 10 "$(limit_for "$name")" "${cmd[@]}" >"$tdir.log" 2>&1
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	sweep "$tdir"
	case $rc in
	124) echo "(timed out after $(limit_for "$name")s)" >>"$tdir.log" ;;
	137) echo "(SIGKILL: ignored the timeout's SIGTERM, or was killed)" >>"$tdir.log" ;;
	esac
	if [ $rc = 0 ]; then
		pass=$((pass + 1))
		printf 'PASS %-22s %5ss\n' "$name" "$secs"
		[ $VERBOSE = 1 ] && sed 's/^/    /' "$tdir.log"
	else
		fail=$((fail + 1))
		failed+=("$name")
		printf 'FAIL %-22s %5ss (exit %d)\n' "$name" "$secs" "$rc"
		tail -n 40 "$tdir.log" | sed 's/^/    /'
	fi
	rm -rf "$tdir"
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]} ($(($(date +%s) - start_all))s)" >&2
echo "integration: $pass passed, $fail failed"
[ $fail = 0 ]
