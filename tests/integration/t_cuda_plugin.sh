#!/bin/bash
# The CUDA plugin is loaded lazily: neither `tensorfs` nor libtensorfs.so links libcudart; a cpu
# load never maps libtensorfs-cuda.so or libcudart (seen through LD_DEBUG=files, which lists every
# object the dynamic linker opens); a cuda load does, and without a GPU, plugin or driver it fails
# with a one-line message saying which - never a crash. Needs no GPU (with one, the failure
# messages are not checked: tests/gpu/run.sh covers the GPU).
. "$(dirname "$0")/lib.sh"

BDIR=$(dirname "$TENSORFS")
PLUGIN=$BDIR/libtensorfs-cuda.so
CK=$T/ck
$GEN sharded "$CK" --tensors 12 --shards 2 --seed 3 -q || { fail "gen_ckpt"; tfs_done; }

# linked_cuda FILE: does the dynamic linker pull a CUDA library in at start?
linked_cuda() { ldd "$1" | grep -qiE 'libcudart|libcuda\.so'; }
check "tensorfs does not link libcudart" eval '! linked_cuda "$TENSORFS"'
if [ -f "$BDIR/libtensorfs.so" ]; then
	check "libtensorfs.so does not link libcudart" eval '! linked_cuda "$BDIR/libtensorfs.so"'
fi

# opened LOG: the objects the dynamic linker mapped (not RTLD_NOLOAD probes, which map nothing).
opened() { grep -E 'calling init: ' "$1" | sed 's/.*calling init: //'; }

LD_DEBUG=files "$TENSORFS" load "$CK" --device cpu >"$T/out" 2>"$T/ld"
rc=$?
check "load --device cpu succeeds (rc=$rc)" test $rc = 0
check "load --device cpu loaded the tensors" grep -q '^loaded 12 tensors' "$T/out"
check "LD_DEBUG saw the start-up (the check below can fail)" eval 'opened "$T/ld" | grep -q libc'
check "load --device cpu does not load the CUDA plugin" eval '! opened "$T/ld" | grep -q libtensorfs-cuda'
check "load --device cpu does not load libcudart" eval '! opened "$T/ld" | grep -q libcudart'
# Not even a probe: dlopen(RTLD_NOLOAD) by name reads each candidate file's ELF header (a disk read
# per start on a machine without CUDA); the cache looks at the loaded objects instead.
check "load --device cpu does not look for libcudart on disk" eval '! grep -q "file=libcudart" "$T/ld"'

gpu=0
nvidia-smi -L >/dev/null 2>&1 && gpu=1

# With the plugin built: a cuda request loads it (and libcudart with it).
if [ -f "$PLUGIN" ]; then
	LD_DEBUG=files timeout 60 "$TENSORFS" load "$CK" --device cuda:0 >"$T/out" 2>"$T/ld"
	rc=$?
	check "load --device cuda:0 loads the CUDA plugin" eval 'opened "$T/ld" | grep -q libtensorfs-cuda'
	if [ $gpu = 0 ]; then
		check "cuda:0 without a GPU exits 1 (rc=$rc)" test $rc = 1
		check "cuda:0 without a GPU says so" \
			grep -qE '^tensorfs load: cuda:0: no CUDA device \(cudaGetDeviceCount: .+\)$' "$T/ld"
	fi
fi

# expect_msg DESCRIPTION REGEX ENV...: load --device cuda:0 under ENV fails with REGEX on stderr.
expect_msg() {
	local what=$1 re=$2
	shift 2
	env "$@" timeout 60 "$TENSORFS" load "$CK" --device cuda:0 >"$T/out" 2>"$T/err"
	local rc=$?
	check "$what: exits 1 (rc=$rc)" test $rc = 1
	check "$what: one clear line" grep -qE "$re" "$T/err"
	check "$what: nothing on stdout" test ! -s "$T/out"
}

# A missing plugin (the build had no nvcc, or the file was not installed).
expect_msg "missing plugin" \
	"^tensorfs load: cuda:0: CUDA plugin $T/none.so \(TENSORFS_CUDA_PLUGIN\) not found$" \
	TENSORFS_CUDA_PLUGIN="$T/none.so"
if [ ! -f "$PLUGIN" ]; then
	expect_msg "build without the plugin" \
		'^tensorfs load: cuda:0: CUDA support not available: no libtensorfs-cuda.so in .+' A=1
fi
# A file that is not a shared object; a plugin whose own dependency is gone (libcudart
# uninstalled: the loader's reason is passed on); one without the entry point.
refuses_bad_plugins "tensorfs load: cuda:0: " CUDA TENSORFS_CUDA_PLUGIN tfs_cuda_backend_v1
# A plugin from another build: its table has another ABI number, and must never be called.
if command -v cc >/dev/null; then
	cat >"$T/other.c" <<'C'
struct table { unsigned abi; unsigned long size; };
const struct table *tfs_cuda_backend_v1(void) { static struct table t = { 999, 8 }; return &t; }
C
	if cc -shared -fPIC -o "$T/other.so" "$T/other.c"; then
		expect_msg "plugin of another ABI" \
			"^tensorfs load: cuda:0: the CUDA plugin $T/other.so is from another build of tensorfs .+" \
			TENSORFS_CUDA_PLUGIN="$T/other.so"
	fi
fi
tfs_done
