#!/bin/sh
# Runs the Python tests (tests/python/test_*.py) against a built libtensorfs.so, in the pinned
# virtual environment of scripts/setup-venv.sh (created on first use, from
# tests/python/requirements.txt); prints one summary line "python: N passed, M failed" and exits
# non-zero on failure. Library: $TENSORFS_LIB, else build/libtensorfs.so of this checkout (set B=DIR
# for another build). TENSORFS_PYTHON=/path/to/python runs them with that interpreter instead;
# TENSORFS_PRELOAD=LIB.so is preloaded into the interpreter only (make test-asan-python: libasan).
case "${1:-}" in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
: "${TENSORFS_LIB:=$PWD/$B/libtensorfs.so}"
export TENSORFS_LIB
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
if [ -n "${TENSORFS_PYTHON:-}" ]; then
	PY=$TENSORFS_PYTHON
elif ! PY=$(scripts/setup-venv.sh); then
	echo "python: could not create the test environment (scripts/setup-venv.sh)" >&2
	echo "python: 0 passed, 1 failed"
	exit 1
fi
if [ ! -f "$TENSORFS_LIB" ]; then
	echo "python: $TENSORFS_LIB not found (run make first)" >&2
	echo "python: 0 passed, 1 failed"
	exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
${TENSORFS_PRELOAD:+env LD_PRELOAD=$TENSORFS_PRELOAD} $PY - "$@" >"$log" 2>&1 <<'EOF'
import os, sys, unittest
sys.path.insert(0, "tests/python")
suite = unittest.defaultTestLoader.discover("tests/python", pattern="test_*.py")
res = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
passed = res.testsRun - failed - len(res.skipped)
print("python: %d passed, %d failed%s" % (passed, failed,
      ", %d skipped" % len(res.skipped) if res.skipped else ""))
sys.exit(1 if failed else 0)
EOF
rc=$?
if [ $rc != 0 ]; then
	cat "$log" >&2
	tail -n 1 "$log"
	exit 1
fi
tail -n 1 "$log"
