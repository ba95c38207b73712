# tensorfs - one plain Makefile. `make help` lists the targets.
#
# Layout: loader/*.c -> libtensorfs (.a and .so); fs/*.c -> the `tensorfs` binary;
# tests/test_*.c -> one cmocka binary each; tests/integration/*.sh -> real-mount tests.

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter -fPIC -pthread \
           -Iinclude -Iloader -Ifs -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
LDFLAGS += -pthread
PKG     := pkg-config
LIB_PKGS := jansson libxxhash
FUSE_PKGS := fuse3
LIB_CFLAGS  = $(shell $(PKG) --cflags $(LIB_PKGS) 2>/dev/null)
LIB_LIBS    = $(shell $(PKG) --libs $(LIB_PKGS) 2>/dev/null || echo -ljansson -lxxhash) -ldl -lm
FUSE_CFLAGS = $(shell $(PKG) --cflags $(FUSE_PKGS) 2>/dev/null)
FUSE_LIBS   = $(shell $(PKG) --libs $(FUSE_PKGS) 2>/dev/null || echo -lfuse3)

# CUDA: loader/*.cu joins libtensorfs only when nvcc is found (`make NVCC=` builds without it);
# then TFS_HAVE_CUDA is defined everywhere and the library links -lcudart.
ifeq ($(origin NVCC),undefined)
NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
endif
ifneq ($(strip $(NVCC)),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_SRC  := $(wildcard loader/*.cu)
CFLAGS    += -DTFS_HAVE_CUDA
NVCCFLAGS ?= -O2 -g
NVCCFLAGS += -std=c++17 -DTFS_HAVE_CUDA -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude -Iloader \
             -Xcompiler -fPIC,-pthread,-fno-exceptions,-Wall,-Wextra,-Wno-unused-parameter
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++
LIB_LIBS  += $(CUDA_LIBS)
endif

B       ?= build
PREFIX  ?= /usr/local

LOADER_SRC := $(wildcard loader/*.c)
FS_SRC     := $(wildcard fs/*.c)
TEST_SRC   := $(wildcard tests/test_*.c)
LOADER_OBJ := $(LOADER_SRC:%.c=$(B)/%.o)
LOADER_OBJ += $(CUDA_SRC:%.cu=$(B)/%.o)
FS_OBJ     := $(FS_SRC:%.c=$(B)/%.o)
FS_LIB_OBJ := $(filter-out $(B)/fs/main.o,$(FS_OBJ))
TEST_BIN   := $(TEST_SRC:tests/%.c=$(B)/tests/%)
TEST_COMMON := $(filter-out tests/test_%.c,$(wildcard tests/*.c))
TEST_COMMON_OBJ := $(TEST_COMMON:%.c=$(B)/%.o)

.PHONY: all deps test unit integration python demo bench clean install help
all: $(B)/tensorfs $(B)/libtensorfs.a $(B)/libtensorfs.so

help:
	@echo "make            build build/tensorfs and build/libtensorfs.{a,so}"
	@echo "make deps       install missing Debian packages (needs root)"
	@echo "make demo       deps + build + mount a small sample checkpoint and show it"
	@echo "make test       deps + build + every unit and integration test"
	@echo "make bench      benchmark: ratios against direct reads of the same shards"
	@echo "make install    install to PREFIX=$(PREFIX)"

deps:
	@scripts/install-deps.sh

$(B)/loader/%.o: loader/%.c include/tensorfs.h $(wildcard loader/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -c $< -o $@

$(B)/loader/%.o: loader/%.cu include/tensorfs.h $(wildcard loader/*.h)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(B)/fs/%.o: fs/%.c include/tensorfs.h $(wildcard fs/*.h loader/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUSE_CFLAGS) $(LIB_CFLAGS) -c $< -o $@

$(B)/tests/%.o: tests/%.c include/tensorfs.h $(wildcard tests/*.h loader/*.h fs/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUSE_CFLAGS) $(LIB_CFLAGS) -Itests -c $< -o $@

$(B)/libtensorfs.a: $(LOADER_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/libtensorfs.so: $(LOADER_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LIB_LIBS)

$(B)/tensorfs: $(FS_OBJ) $(B)/libtensorfs.a
	$(CC) -o $@ $(FS_OBJ) $(B)/libtensorfs.a $(LDFLAGS) $(FUSE_LIBS) $(LIB_LIBS)

$(B)/tests/test_%: $(B)/tests/test_%.o $(TEST_COMMON_OBJ) $(FS_LIB_OBJ) $(B)/libtensorfs.a
	$(CC) -o $@ $^ $(LDFLAGS) -lcmocka $(FUSE_LIBS) $(LIB_LIBS)

unit: $(TEST_BIN)
	@scripts/run-unit.sh $(TEST_BIN)

integration: $(B)/tensorfs
	@TENSORFS=$(abspath $(B)/tensorfs) tests/integration/run.sh

python: all
	@B=$(B) tests/python/run.sh

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory python

demo: deps
	@$(MAKE) --no-print-directory all
	@TENSORFS=$(abspath $(B)/tensorfs) scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@TENSORFS=$(abspath $(B)/tensorfs) bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include /sbin
	install -m 755 $(B)/tensorfs $(DESTDIR)$(PREFIX)/bin/tensorfs
	install -m 644 $(B)/libtensorfs.a $(B)/libtensorfs.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/tensorfs.h $(DESTDIR)$(PREFIX)/include/
	install -d $(DESTDIR)$(PREFIX)/include/dlpack
	install -m 644 include/dlpack/dlpack.h include/dlpack/LICENSE $(DESTDIR)$(PREFIX)/include/dlpack/
	install -m 755 mount-scripts/mount.tensorfs $(DESTDIR)/sbin/mount.tensorfs

clean:
	rm -rf $(B)
