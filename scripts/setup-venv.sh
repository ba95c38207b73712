#!/bin/sh
# setup-venv.sh - creates (once) the virtual environment the Python tests run in, and prints the
# path of its python on stdout (progress goes to stderr).
#
#   scripts/setup-venv.sh [REQUIREMENTS [MODULES]]
#
# REQUIREMENTS defaults to tests/python/requirements.txt; MODULES (comma-separated, imported as a
# check before the environment is marked ready) to the tests' direct requirements. The bench builds
# its peers' environment with bench/requirements.txt this way (and its own TENSORFS_VENV_ROOT).
#
# The environment is built from the pinned requirements file and lives at
#   $TENSORFS_VENV_ROOT/<hash>   (default root: ${XDG_CACHE_HOME:-$HOME/.cache}/tensorfs-venv)
# where <hash> covers the requirements file, this script's format version and the interpreter's
# version, so clones and worktrees share it and a changed pin builds a new one. When it exists (its
# .ready marker is written last) this takes a fraction of a second; creation takes about 1-2 min
# (torch's CPU wheel comes from /opt/wheels through the machine's pip config; the rest from PyPI).
# Concurrent callers serialise on a lock; a half-built environment is removed and rebuilt.
#
# Interpreter: $TENSORFS_VENV_PYTHON, else the first of python3.11, python3, /usr/bin/python3 that
# is Python 3.11 with the venv and ensurepip modules (3.11: the torch wheel on disk is cp311;
# Debian's /usr/bin/python3 lacks ensurepip unless python3-venv is installed, so the python3 on
# PATH, which has it on these machines, comes first).
case "${1:-}" in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac
set -eu
cd "$(dirname "$0")/.."
REQ=${1:-tests/python/requirements.txt}
CHECK=${2:-torch, numpy, safetensors, transformers, diffusers, accelerate, gguf}
[ -f "$REQ" ] || { echo "setup-venv: $REQ: no such requirements file" >&2; exit 1; }
FORMAT=1

pick() {
	for c in "$@"; do
		p=$(command -v "$c" 2>/dev/null) || continue
		if "$p" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' \
			2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

if [ -n "${TENSORFS_VENV_PYTHON:-}" ]; then
	PY=$TENSORFS_VENV_PYTHON
elif ! PY=$(pick python3.11 python3 /usr/bin/python3); then
	echo "setup-venv: no Python 3.11 with venv+ensurepip found (python3.11, python3, /usr/bin/python3);" \
		"install Debian's python3-venv or set TENSORFS_VENV_PYTHON" >&2
	exit 1
fi
PYVER=$("$PY" -c 'import sys; print(sys.version.split()[0])')
KEY=$( { cat "$REQ"; echo "format=$FORMAT python=$PYVER"; } | sha256sum | cut -c1-16)
ROOT=${TENSORFS_VENV_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/tensorfs-venv}
DIR=$ROOT/$KEY

if [ -f "$DIR/.ready" ] && [ -x "$DIR/bin/python" ]; then
	echo "$DIR/bin/python"
	exit 0
fi

mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
flock 9
if [ -f "$DIR/.ready" ] && [ -x "$DIR/bin/python" ]; then   # built while we waited
	echo "$DIR/bin/python"
	exit 0
fi
start=$(date +%s)
echo "setup-venv: creating $DIR (Python $PYVER from $PY, pins from $REQ)" >&2
rm -rf "$DIR"
"$PY" -m venv "$DIR" >&2
log=$DIR/.pip.log
# The machine's pip config names local index folders that may not exist: pip warns once per
# package about them. The log keeps everything; only other lines are shown.
if ! "$DIR/bin/python" -m pip install --no-input --disable-pip-version-check -q -r "$REQ" \
	>"$log" 2>&1; then
	grep -v "^WARNING: Location 'file:" "$log" >&2 || true
	echo "setup-venv: pip install failed; full log in $log" >&2
	exit 1
fi
grep -v "^WARNING: Location 'file:" "$log" >&2 || true
"$DIR/bin/python" -c "import $CHECK" >&2
touch "$DIR/.ready"
echo "setup-venv: ready in $(($(date +%s) - start)) s" >&2
echo "$DIR/bin/python"
