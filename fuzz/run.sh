#!/bin/bash
# run.sh - runs the libFuzzer targets of fuzz/ (built by `make fuzz-build`).
#
# Usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]   fuzz each target for SECONDS (in parallel, one
#                                                    per core), seeds from tests/corpus/<target>/
#        fuzz/run.sh BUILD_DIR regress [TARGET...]   replay every file of tests/corpus/<target>/ once
# Prints one line per target (runs, seconds, new crashes) and exits 1 if any target found a crash or
# a replayed input failed. Crashing inputs are written to BUILD_DIR/fuzz-artifacts/; copy them into
# tests/corpus/<target>/ once fixed, so `make fuzz-regress` keeps replaying them.
set -u
case ${1:-} in -h|--help|"") sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ]; exit $? ;; esac
B=$1
MODE=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS|regress [TARGET...] (see --help)}
shift 2
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && for f in fuzz/fuzz_*.c; do t=$(basename "$f" .c); TARGETS+=("$t"); done
JOBS=${FUZZ_JOBS:-$(nproc)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

rc=0
if [ "$MODE" = regress ]; then
	for t in "${TARGETS[@]}"; do
		files=(tests/corpus/"$t"/*)
		[ -e "${files[0]}" ] || { echo "fuzz-regress $t: no corpus"; continue; }
		if "$B/fuzz/$t" -runs=1 "${files[@]}" >"$B/fuzz/$t.regress.log" 2>&1; then
			echo "fuzz-regress $t: ${#files[@]} inputs ok"
		else
			echo "fuzz-regress $t: FAILED (log $B/fuzz/$t.regress.log)"
			tail -n 30 "$B/fuzz/$t.regress.log"
			rc=1
		fi
	done
	exit $rc
fi

SECS=$MODE
mkdir -p "$B/fuzz-artifacts"
run_one() {
	local t=$1 work="$B/fuzz-corpus/$t" log="$B/fuzz/$t.log" t0 t1 r
	mkdir -p "$work"
	t0=$(date +%s.%N)
	"$B/fuzz/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -dict=fuzz/tensorfs.dict -artifact_prefix="$B/fuzz-artifacts/$t-" \
		${FUZZ_ARGS:-} "$work" "tests/corpus/$t" >"$log" 2>&1
	r=$?
	t1=$(date +%s.%N)
	local runs cov
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
	printf 'fuzz %-18s %s, %8s runs, cov %5s, %6.1fs%s\n' "$t" "$([ $r = 0 ] && echo ok || echo CRASH)" \
		"${runs:-?}" "${cov:-?}" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		"$([ $r = 0 ] || echo " -> $(ls "$B"/fuzz-artifacts/"$t"-* 2>/dev/null | tail -n 1), log $log")"
	[ $r = 0 ] || tail -n 40 "$log"
	return $r
}
pids=()
names=()
for t in "${TARGETS[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 0.2; done
	run_one "$t" &
	pids+=($!)
	names+=("$t")
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
