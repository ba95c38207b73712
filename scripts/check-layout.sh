#!/bin/sh
# check-layout.sh - the layout rules of README's "Layout of the code", checked by grep (run by
# `make unit`; run it from anywhere). Exits non-zero naming every line that breaks a rule:
#  1. Syscalls on checkpoint files (open, read, pread, fstat, splice, O_DIRECT) live in loader/io/
#     only: everything else reads through the byte source (loader/io/source.h).
#  2. fs/ and cli/ include only the public header (include/), loader/util/ and their own folders,
#     as the Makefile's include paths say.
#  3. `#if...TFS_HAVE_CUDA` appears in no .c file (CUDA sits behind the backend seam,
#     loader/place/backend.h, and is built into a plugin, never conditionally into the library),
#     and only the CUDA backend (loader/place/backend_cuda*) includes the CUDA runtime's headers.
#  4. Nothing cites the workspace outside the repository (a path "shared/" or "../shared").
case "${1:-}" in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.." || exit 2
bad=0
fail() { echo "check-layout: $*" >&2; bad=1; }

# 1. Not shard syscalls, though they look like them: the daemon's /dev/null and its start-up pipe.
SYSCALL_ALLOW='^cli/main\.c:[0-9]+:.*(open\("/dev/null"|read\(p\[0\])'
SYSCALLS='(^|[^A-Za-z0-9_>.])(pread|preadv|pread64|open|openat|fstat|splice|read)\(|(^|[^A-Za-z0-9_])O_DIRECT($|[^A-Za-z0-9_])'
# Code only: string literals, /* ... */ on one line, // comments and comment lines (" * ...")
# are dropped; struct members (s->ops->read(...)) are not syscalls.
files=$(find loader fs cli -name '*.[ch]' ! -path 'loader/io/*' | sort)
hits=$(grep -nE "$SYSCALLS" $files /dev/null | grep -vE "$SYSCALL_ALLOW" |
	sed -e 's|"[^"]*"|""|g' -e 's|/\*.*\*/||g' -e 's|//.*$||' |
	grep -vE '^[^:]*:[0-9]+:[[:space:]]*\*' | grep -E "$SYSCALLS")
[ -z "$hits" ] || fail "checkpoint-file syscalls outside loader/io/ (read through io/source.h):
$hits"

# 2. Front ends see include/, loader/util/ and fs/ + cli/ only.
hits=$(for f in $(find fs cli -name '*.[ch]' | sort); do
	grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
		h=$(printf '%s\n' "$line" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
		[ -f "include/$h" ] || [ -f "loader/util/$h" ] || [ -f "fs/$h" ] || [ -f "cli/$h" ] ||
			echo "$f:$line"
	done
done)
[ -z "$hits" ] || fail "fs/ and cli/ may include only include/, loader/util/, fs/, cli/:
$hits"

# 3. No CUDA conditionals in .c files; the CUDA runtime is included by the CUDA backend only.
CUDA_ALLOW=''
for f in $(grep -rlE '^[[:space:]]*#[[:space:]]*(if|ifdef|ifndef|elif).*TFS_HAVE_CUDA' --include='*.c' \
		loader fs cli | sort); do
	case " $CUDA_ALLOW " in *" $f "*) continue ;; esac
	fail "$f: #if TFS_HAVE_CUDA in a .c file (put it behind the backend seam, loader/place/backend.h)"
done
for f in $(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]cuda' loader fs cli | sort); do
	case "$f" in loader/place/backend_cuda*) continue ;; esac
	fail "$f: includes a CUDA header outside loader/place/backend_cuda* (use loader/place/backend.h)"
done

# 4. The repository stands alone.
if [ -d .git ] || [ -f .git ]; then
	hits=$(git grep -nE '(^|[^A-Za-z0-9_.-])(\.\./)?shared/' -- . ':!scripts/check-layout.sh' 2>/dev/null)
else
	hits=$(grep -rnE '(^|[^A-Za-z0-9_.-])(\.\./)?shared/' --exclude-dir=build* --exclude=check-layout.sh \
		loader fs cli include tests docs scripts fuzz bench python README.md Makefile 2>/dev/null)
fi
[ -z "$hits" ] || fail "cites files outside the repository (shared/):
$hits"

[ "$bad" = 0 ] && echo "check-layout: ok"
exit "$bad"
