# tensorfs - one plain Makefile. `make help` lists the targets.
#
# Layout (README, "Layout of the code"): loader/<room>/*.c -> libtensorfs (.a and .so);
# fs/*.c (the FUSE filesystem) + cli/*.c (the command line) -> the `tensorfs` binary;
# tests/test_*.c -> one cmocka binary each; tests/integration/*.sh -> real-mount tests.
#
# Include paths are the boundary: library files see include/ (public), loader/ (rooms, included
# as "engine/cache.h") and loader/util/; the front ends see include/, loader/util/ and their own
# folders only, so fs/ and cli/ cannot reach the engine's internals.

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter -fPIC -pthread \
           -Iinclude -Iloader/util -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
LIB_INC  := -Iloader
FRONT_INC := -Ifs -Icli
LDFLAGS += -pthread
PKG     := pkg-config
LIB_PKGS := jansson libxxhash
# libcurl and libcrypto: only the HTTP plugin links them (HTTP_SRC below).
HTTP_PKGS := libcurl libcrypto
FUSE_PKGS := fuse3
LIB_CFLAGS  = $(shell $(PKG) --cflags $(LIB_PKGS) $(HTTP_PKGS) 2>/dev/null)
LIB_LIBS    = $(shell $(PKG) --libs $(LIB_PKGS) 2>/dev/null || echo -ljansson -lxxhash) -ldl -lm
HTTP_LIBS   = $(shell $(PKG) --libs $(HTTP_PKGS) 2>/dev/null || echo -lcurl -lcrypto)
# The tensorfs executable links jansson and xxhash statically where their archives are installed
# (Debian's -dev packages ship them): each shared library is one more file to look up and page in
# at every start, and after a cache drop on the throttled disk a mount's start took 0.70 s with
# them and 0.50 s without (200 -> 126 reads; both binaries in one folder, libc already cached).
# libtensorfs.so links them as shared libraries.
comma := ,
STATIC_DEPS = $(and $(filter /%,$(shell $(CC) -print-file-name=libjansson.a)),$(filter /%,$(shell $(CC) -print-file-name=libxxhash.a)))
EXE_LIB_LIBS = $(if $(STATIC_DEPS),-Wl$(comma)-Bstatic -ljansson -lxxhash -Wl$(comma)-Bdynamic -ldl -lm,$(LIB_LIBS))
# libfuse: a static 3.17 from scripts/build-libfuse.sh when its cache folder has one (it can ask the
# kernel for FUSE_DIRECT_IO_ALLOW_MMAP: one copy per read with shared mmap kept), else the system's.
# $(B)/libfuse.pc records which, so objects rebuild when it changes; recursive `=` so the values are
# read after that prerequisite ran. `make LIBFUSE=system` builds against the system libfuse.
LIBFUSE ?= cached
FUSE_PKGENV = $(if $(strip $(file < $(B)/libfuse.pc)),PKG_CONFIG_PATH=$(strip $(file < $(B)/libfuse.pc)))
FUSE_STATIC = $(if $(strip $(file < $(B)/libfuse.pc)),--static)
FUSE_CFLAGS = $(shell $(FUSE_PKGENV) $(PKG) --cflags $(FUSE_PKGS) 2>/dev/null)
FUSE_LIBS   = $(shell $(FUSE_PKGENV) $(PKG) $(FUSE_STATIC) --libs $(FUSE_PKGS) 2>/dev/null || echo -lfuse3)

# CUDA: when nvcc is found (`make NVCC=` builds without it), loader/*/*.cu is built into its own
# plugin, $(B)/libtensorfs-cuda.so, the only file that links -lcudart; libtensorfs dlopen()s it the
# first time a CUDA device is asked for (loader/place/backend.h), so the library and `tensorfs`
# build and behave the same with or without CUDA, and a cpu load never starts the CUDA runtime.
ifeq ($(origin NVCC),undefined)
NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
endif
ifneq ($(strip $(NVCC)),)
# nvcc may be a wrapper script (/usr/local/bin/nvcc here): take the toolkit from /usr/local/cuda
# when it is there, else from nvcc's own folder.
CUDA_HOME ?= $(if $(wildcard /usr/local/cuda/lib64/libcudart.so),/usr/local/cuda,$(patsubst %/bin/nvcc,%,$(NVCC)))
CUDA_SRC  := $(wildcard loader/*/*.cu)
NVCCFLAGS ?= -O2 -g
NVCCFLAGS += -std=c++17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude -Iloader -Iloader/util \
             -Xcompiler -fPIC,-pthread,-fno-exceptions,-Wall,-Wextra,-Wno-unused-parameter
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++
CUDA_PLUGIN = $(B)/libtensorfs-cuda.so
endif

B       ?= build
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
# ABI: the SONAME's number changes when a declaration of include/tensorfs.h changes incompatibly
# (2: tfs_load_opts gained through_cache and tfs_load_report bytes_uncached; callers allocate
# both); loader/libtensorfs.map exports exactly what the header declares (scripts/check-abi.sh).
ABI_MAJOR := 2
ABI_VERSION := $(ABI_MAJOR).0.0

# The HTTP(S)/S3 byte source is its own plugin, $(B)/libtensorfs-http.so, the only file that links
# libcurl: libtensorfs dlopen()s it at the first URL (loader/io/source.h), so a process reading
# local files never loads libcurl's ~30 libraries (about 1 s of a cold start on a slow disk).
HTTP_SRC   := loader/io/source_http.c loader/io/sigv4.c
LOADER_SRC := $(filter-out $(HTTP_SRC),$(wildcard loader/*/*.c))
LOADER_HDR := $(wildcard loader/*/*.h)
FS_SRC     := $(wildcard fs/*.c cli/*.c)
TEST_SRC   := $(wildcard tests/test_*.c)
LOADER_OBJ := $(LOADER_SRC:%.c=$(B)/%.o)
CUDA_OBJ   := $(CUDA_SRC:%.cu=$(B)/%.o)
HTTP_OBJ   := $(HTTP_SRC:%.c=$(B)/%.o)
HTTP_PLUGIN = $(B)/libtensorfs-http.so
FS_OBJ     := $(FS_SRC:%.c=$(B)/%.o)
FS_LIB_OBJ := $(filter-out $(B)/cli/main.o,$(FS_OBJ))
TEST_BIN   := $(TEST_SRC:tests/%.c=$(B)/tests/%)
TEST_COMMON := $(filter-out tests/test_%.c,$(wildcard tests/*.c))
TEST_COMMON_OBJ := $(TEST_COMMON:%.c=$(B)/%.o)

.PHONY: all deps test unit integration python demo bench bench-quick bench-deps clean install help abi abi-map FORCE
all: $(B)/tensorfs $(B)/libtensorfs.a $(B)/libtensorfs.so $(B)/libtensorfs.so.$(ABI_MAJOR) $(CUDA_PLUGIN) \
	$(HTTP_PLUGIN)

# Builds the libfuse once when missing (a failure is noted by the script and not retried), then
# rewrites $(B)/libfuse.pc only when the choice changed. `make LIBFUSE=system` skips it.
$(B)/libfuse.pc: FORCE
	@mkdir -p $(B)
	@pc=""; if [ "$(LIBFUSE)" != system ]; then scripts/build-libfuse.sh; \
		pc="$$(scripts/build-libfuse.sh --pc-dir)"; fi; \
	 [ -f $@ ] && [ "$$(cat $@)" = "$$pc" ] || echo "$$pc" > $@

help:
	@echo "make            build build/tensorfs and build/libtensorfs.{a,so}"
	@echo "make deps       install missing Debian packages (needs root)"
	@echo "make demo       deps + build + mount a small sample checkpoint and show it"
	@echo "make test       deps + build + every unit and integration test"
	@echo "make bench      benchmark (bench/run.sh): issue 9's figures vs cat, pread, mmap, bulk pread,"
	@echo "                bindfs and peer loaders; bench/out/results.json + chart.png (~13 min)"
	@echo "make bench-quick  the same on a small checkpoint, one round (a few minutes; CI smoke)"
	@echo "                A/B: make bench BENCH_AB_OPTS='--direct-io off|--splice off'"
	@echo "make test-asan  the whole suite under ASan+UBSan (test-asan-python: the Python tests only);"
	@echo "                make test-tsan: unit tests under TSan"
	@echo "make fuzz       libFuzzer targets (FUZZ_SECONDS each); fuzz-ci, fuzz-regress"
	@echo "make abi        check that libtensorfs.so exports exactly what include/tensorfs.h declares"
	@echo "make install    install to PREFIX=$(PREFIX): binary, headers, library + symlinks, HTTP and CUDA plugins, tensorfs.pc"

deps:
	@scripts/install-deps.sh
	@scripts/build-libfuse.sh

$(B)/loader/%.o: loader/%.c include/tensorfs.h $(LOADER_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_INC) $(LIB_CFLAGS) -c $< -o $@

$(B)/loader/%.o: loader/%.cu include/tensorfs.h $(LOADER_HDR)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(B)/fs/%.o: fs/%.c include/tensorfs.h $(wildcard fs/*.h cli/*.h loader/util/*.h) $(B)/libfuse.pc
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FRONT_INC) $(FUSE_CFLAGS) $(LIB_CFLAGS) -c $< -o $@

$(B)/cli/%.o: cli/%.c include/tensorfs.h $(wildcard fs/*.h cli/*.h loader/util/*.h) $(B)/libfuse.pc
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FRONT_INC) $(FUSE_CFLAGS) $(LIB_CFLAGS) -c $< -o $@

# Unit tests reach into the module they test: they see every folder.
$(B)/tests/%.o: tests/%.c include/tensorfs.h $(wildcard tests/*.h fs/*.h cli/*.h) $(LOADER_HDR) $(B)/libfuse.pc
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_INC) $(FRONT_INC) $(FUSE_CFLAGS) $(LIB_CFLAGS) -Itests -c $< -o $@

$(B)/libtensorfs.a: $(LOADER_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/libtensorfs.so: $(LOADER_OBJ) loader/libtensorfs.map
	$(CC) -shared -o $@ $(LOADER_OBJ) -Wl,-soname,libtensorfs.so.$(ABI_MAJOR) \
		-Wl,--version-script=loader/libtensorfs.map $(LDFLAGS) $(LIB_LIBS)

# The SONAME's file, for programs linked with -L$(B) -ltensorfs.
$(B)/libtensorfs.so.$(ABI_MAJOR): $(B)/libtensorfs.so
	ln -sf libtensorfs.so $@

# The CUDA plugin: the backend and the error helper it shares with the library, one export.
$(B)/libtensorfs-cuda.so: $(CUDA_OBJ) $(B)/loader/util/error.o loader/place/cuda-plugin.map
	$(CC) -shared -o $@ $(CUDA_OBJ) $(B)/loader/util/error.o \
		-Wl,--version-script=loader/place/cuda-plugin.map $(LDFLAGS) $(CUDA_LIBS)

# The HTTP plugin: the source, SigV4 and the error helper it shares with the library, one export.
$(B)/libtensorfs-http.so: $(HTTP_OBJ) $(B)/loader/util/error.o loader/io/http-plugin.map
	$(CC) -shared -o $@ $(HTTP_OBJ) $(B)/loader/util/error.o \
		-Wl,--version-script=loader/io/http-plugin.map $(LDFLAGS) $(HTTP_LIBS)

abi: $(B)/libtensorfs.so
	@scripts/check-abi.sh $(B)/libtensorfs.so include/tensorfs.h

# After adding or removing a function of include/tensorfs.h.
abi-map:
	scripts/gen-abi-map.sh include/tensorfs.h >loader/libtensorfs.map

$(B)/tensorfs: $(FS_OBJ) $(B)/libtensorfs.a $(B)/libfuse.pc
	$(CC) -o $@ $(FS_OBJ) $(B)/libtensorfs.a $(LDFLAGS) $(FUSE_LIBS) $(EXE_LIB_LIBS)

# Unit tests link the HTTP source in (the library then uses that copy, io/source_remote.c).
$(B)/tests/test_%: $(B)/tests/test_%.o $(TEST_COMMON_OBJ) $(FS_LIB_OBJ) $(HTTP_OBJ) $(B)/libtensorfs.a | $(B)/libfuse.pc
	$(CC) -o $@ $^ $(LDFLAGS) -lcmocka $(FUSE_LIBS) $(LIB_LIBS) $(HTTP_LIBS)

unit: $(TEST_BIN)
	@scripts/check-layout.sh
	@scripts/run-unit.sh $(TEST_BIN)

integration: $(B)/tensorfs
	@TENSORFS=$(abspath $(B)/tensorfs) tests/integration/run.sh

python: all
	@B=$(B) tests/python/run.sh

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@$(MAKE) --no-print-directory abi
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory python

demo: deps
	@$(MAKE) --no-print-directory all
	@TENSORFS=$(abspath $(B)/tensorfs) scripts/demo.sh

bench-deps:
	@scripts/install-deps.sh bench

# BENCH_* variables given on the command line (make bench BENCH_AB_OPTS=...) reach run.sh through
# make's environment export of command-line variables.
bench: bench-deps
	@$(MAKE) --no-print-directory all
	@TENSORFS=$(abspath $(B)/tensorfs) bench/run.sh

bench-quick: bench-deps
	@$(MAKE) --no-print-directory all
	@TENSORFS=$(abspath $(B)/tensorfs) BENCH_QUICK=1 bench/run.sh

# The plugin goes next to the library: that is where libtensorfs (and PREFIX/bin/tensorfs, via
# ../lib) looks for it.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include/dlpack \
		$(DESTDIR)/sbin
	install -m 755 $(B)/tensorfs $(DESTDIR)$(PREFIX)/bin/tensorfs
	install -m 644 $(B)/libtensorfs.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(B)/libtensorfs.so $(DESTDIR)$(LIBDIR)/libtensorfs.so.$(ABI_VERSION)
	ln -sf libtensorfs.so.$(ABI_VERSION) $(DESTDIR)$(LIBDIR)/libtensorfs.so.$(ABI_MAJOR)
	ln -sf libtensorfs.so.$(ABI_MAJOR) $(DESTDIR)$(LIBDIR)/libtensorfs.so
	$(if $(CUDA_PLUGIN),install -m 755 $(CUDA_PLUGIN) $(DESTDIR)$(LIBDIR)/)
	install -m 755 $(HTTP_PLUGIN) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@VERSION@|$(ABI_VERSION)|' \
		scripts/tensorfs.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/tensorfs.pc
	install -m 644 include/tensorfs.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/dlpack/dlpack.h include/dlpack/LICENSE $(DESTDIR)$(PREFIX)/include/dlpack/
	install -m 755 mount-scripts/mount.tensorfs $(DESTDIR)/sbin/mount.tensorfs

clean:
	rm -rf $(B)

# ---- hostile inputs: fuzzing and sanitizers (fuzz/, tests/corpus/) ------------------------------
# make fuzz           build the libFuzzer targets (clang, ASan+UBSan) and fuzz each for FUZZ_SECONDS
# make fuzz-ci        the same, bounded for CI (FUZZ_CI_SECONDS each, targets in parallel per core)
# make fuzz-regress   replay every input of tests/corpus/<target>/ once (fixed crashes stay fixed)
# make test-asan      everything built with -fsanitize=address,undefined into build-asan/, then the
#                     whole unit + integration suite against it
FUZZ_CC         ?= clang-14
FUZZ_SECONDS    ?= 60
FUZZ_CI_SECONDS ?= 60
FZ              ?= build-fuzz
FUZZ_FLAGS      := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                   -fno-sanitize-recover=all -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
                   -Wno-unused-function -pthread -Iinclude -Iloader -Iloader/util -Ifs -Ifuzz -D_GNU_SOURCE \
                   -D_FILE_OFFSET_BITS=64
# Only what the targets reach: the engine and device code stay out of the fuzz build.
FUZZ_LIB_SRC    := $(wildcard loader/format/*.c loader/catalog/*.c loader/io/*.c loader/util/*.c) fs/tree.c
FUZZ_TARGETS    := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BIN        := $(FUZZ_TARGETS:%=$(FZ)/fuzz/%)
# CC carries the sanitizer flags: a CFLAGS given on the command line would replace the Makefile's.
ASAN_CC         := $(CC) -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
# Reports go to files: the daemon's stderr is /dev/null. verify_asan_link_order=0 lets tests
# LD_PRELOAD their fault shim into the sanitized daemon.
ASAN_ENV        := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0:log_path=$(abspath build-asan)/asan \
                   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(abspath build-asan)/ubsan

# Every integration test but valgrind's (valgrind cannot run an ASan binary).
ASAN_IT_TESTS   := $(filter-out t_valgrind%,$(basename $(notdir $(wildcard tests/integration/t_*.sh tests/integration/t_*.py))))

.PHONY: fuzz fuzz-build fuzz-ci fuzz-regress fuzz-deps test-asan
fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null && test -n "$$(find /usr/lib/llvm-14 -name 'libclang_rt.fuzzer-x86_64.a' 2>/dev/null)" || \
		{ test "$$(id -u)" = 0 || { echo "fuzz: need $(FUZZ_CC) and libclang-rt-14-dev (sudo apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }; \
		  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null; }

$(FZ)/fuzz/%: fuzz/%.c $(wildcard fuzz/*.h) $(FUZZ_LIB_SRC) include/tensorfs.h $(LOADER_HDR) $(wildcard fs/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(LIB_CFLAGS) -o $@ $< $(FUZZ_LIB_SRC) $(LIB_LIBS) $(HTTP_LIBS)

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

fuzz: fuzz-build
	@fuzz/run.sh $(FZ) regress $(FUZZ_TARGETS)
	@fuzz/run.sh $(FZ) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci: fuzz-build
	@fuzz/run.sh $(FZ) regress $(FUZZ_TARGETS)
	@fuzz/run.sh $(FZ) $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

fuzz-regress: fuzz-build
	@fuzz/run.sh $(FZ) regress $(FUZZ_TARGETS)

# Sanitized build of everything, then the same suite as `make test`. Leaks are reported by the unit
# tests; the daemon's exit path is checked too (ASan runs at its exit). Integration tests take the
# binary from $$TENSORFS.
test-asan: deps
	@$(MAKE) --no-print-directory B=build-asan CC="$(ASAN_CC)" all $(TEST_SRC:tests/%.c=build-asan/tests/%)
	@rm -f build-asan/asan.* build-asan/ubsan.*
	@$(ASAN_ENV) $(MAKE) --no-print-directory B=build-asan CC="$(ASAN_CC)" unit
	@$(ASAN_ENV) TENSORFS=$(abspath build-asan/tensorfs) tests/integration/run.sh $(ASAN_IT_TESTS)
	@$(MAKE) --no-print-directory test-asan-python ASAN_PY_CLEAN=
	@if ls build-asan/asan.* build-asan/ubsan.* >/dev/null 2>&1; then \
		echo "test-asan: sanitizer reports:"; cat build-asan/asan.* build-asan/ubsan.* 2>/dev/null; exit 1; fi
	@echo "test-asan: no sanitizer reports"

# The Python tests against the ASan library. Python is not instrumented, so libasan is preloaded
# (into the interpreter only: tests/python/run.sh's TENSORFS_PRELOAD); PYTHONMALLOC=malloc sends
# Python's buffers - the ctypes struct mirrors among them - through ASan's malloc, so the library
# writing past one aborts the test. Python's own leaks are not ours: detect_leaks=0.
# libstdc++ is preloaded too, so ASan's __cxa_throw interceptor finds the real one (torch throws).
ASAN_LIB        = $(shell $(CC) -print-file-name=libasan.so):$(shell $(CC) -print-file-name=libstdc++.so.6)
ASAN_PY_CLEAN  ?= 1
.PHONY: test-asan-python
test-asan-python: deps
	@$(MAKE) --no-print-directory B=build-asan CC="$(ASAN_CC)" build-asan/libtensorfs.so build-asan/libtensorfs-http.so
	@$(if $(ASAN_PY_CLEAN),rm -f build-asan/asan.* build-asan/ubsan.*)
	@ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:verify_asan_link_order=0:log_path=$(abspath build-asan)/asan \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(abspath build-asan)/ubsan \
		PYTHONMALLOC=malloc TENSORFS_PRELOAD=$(ASAN_LIB) B=build-asan tests/python/run.sh
	@$(if $(ASAN_PY_CLEAN),if ls build-asan/asan.* build-asan/ubsan.* >/dev/null 2>&1; then \
		echo "test-asan-python: sanitizer reports:"; cat build-asan/asan.* build-asan/ubsan.*; exit 1; fi)

.PHONY: clean-sanitize
clean: clean-sanitize
clean-sanitize:
	rm -rf $(FZ) build-asan

# ThreadSanitizer over the unit tests (the engine's 8-thread stress test included). Not in CI: a
# TSan build of the whole suite doubles CI time for what these tests already exercise.
.PHONY: test-tsan
test-tsan: deps
	@$(MAKE) --no-print-directory B=build-tsan CC="$(CC) -fsanitize=thread" NVCC= $(TEST_SRC:tests/%.c=build-tsan/tests/%)
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(MAKE) --no-print-directory B=build-tsan CC="$(CC) -fsanitize=thread" NVCC= unit
