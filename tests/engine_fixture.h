/*
 * engine_fixture.h - small checkpoints built on the fly for the engine, reader and cache tests.
 *
 * fx_make() writes <tmpdir>/model.safetensors holding `n` U8 tensors t0..t{n-1} of `tsize` bytes
 * each, back to back, filled with a deterministic pattern, and keeps the whole file in memory
 * (fx->bytes) as the ground truth every read is compared with.
 */
#ifndef ENGINE_FIXTURE_H
#define ENGINE_FIXTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensorfs.h"

struct fx {
	char dir[64];
	char path[128];
	uint8_t *bytes;      /* the whole file */
	size_t size;
	uint64_t data_start;
	struct tfs_catalog *cat;
	uint32_t file;       /* catalog index of the shard */
};

static inline uint8_t fx_pattern(uint64_t i)
{
	uint64_t x = i * 0x9E3779B97F4A7C15ull;
	return (uint8_t)((x >> 56) ^ (i >> 12));
}

/* Writes the checkpoint; aborts the test on any failure. */
static inline void fx_make(struct fx *fx, unsigned n, uint64_t tsize)
{
	char *json = malloc(64 + (size_t)n * 128);
	size_t jl = 0, hl;
	int fd;

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/tfs-engine-XXXXXX");
	if (!json || !mkdtemp(fx->dir))
		abort();
	snprintf(fx->path, sizeof(fx->path), "%s/model.safetensors", fx->dir);
	jl += (size_t)sprintf(json + jl, "{");
	for (unsigned i = 0; i < n; i++)
		jl += (size_t)sprintf(json + jl,
				      "%s\"t%u\":{\"dtype\":\"U8\",\"shape\":[%llu],\"data_offsets\":[%llu,%llu]}",
				      i ? "," : "", i, (unsigned long long)tsize,
				      (unsigned long long)(i * tsize), (unsigned long long)((i + 1) * tsize));
	jl += (size_t)sprintf(json + jl, "}");
	hl = (jl + 7) / 8 * 8;
	fx->data_start = 8 + hl;
	fx->size = (size_t)(8 + hl + n * tsize);
	fx->bytes = malloc(fx->size);
	if (!fx->bytes)
		abort();
	for (int i = 0; i < 8; i++)
		fx->bytes[i] = (uint8_t)((uint64_t)hl >> (8 * i));
	memcpy(fx->bytes + 8, json, jl);
	memset(fx->bytes + 8 + jl, ' ', hl - jl);
	for (uint64_t i = fx->data_start; i < fx->size; i++)
		fx->bytes[i] = fx_pattern(i);
	free(json);
	fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, fx->bytes, fx->size) != (ssize_t)fx->size || close(fd) < 0)
		abort();
}

/* Drops the file from the kernel's page cache, so the engine sees a cold checkpoint (it skips
 * readahead and warm-up of ranges RAM already holds). Best effort. */
static inline void fx_evict(struct fx *fx)
{
	int fd = open(fx->path, O_RDONLY);

	if (fd < 0)
		return;
	if (fdatasync(fd) == 0)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* fx_make + tfs_catalog_open (then evicted: cold); fx->file is the shard's catalog index. */
static inline void fx_open(struct fx *fx, unsigned n, uint64_t tsize)
{
	struct tfs_error err;

	fx_make(fx, n, tsize);
	if (tfs_catalog_open(fx->path, &fx->cat, &err) < 0) {
		fprintf(stderr, "catalog: %s\n", err.msg);
		abort();
	}
	for (size_t i = 0; i < tfs_catalog_file_count(fx->cat); i++)
		if (strcmp(tfs_catalog_file(fx->cat, i)->rel, "model.safetensors") == 0)
			fx->file = (uint32_t)i;
	fx_evict(fx);
}

static inline void fx_free(struct fx *fx)
{
	tfs_catalog_close(fx->cat);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx->bytes);
}

static inline struct tfs_engine *fx_engine(struct fx *fx, enum tfs_strategy strategy,
					   uint64_t block_size, uint64_t cache_bytes,
					   uint64_t readahead, unsigned threads)
{
	struct tfs_engine_opts o;
	struct tfs_engine *e = NULL;
	struct tfs_error err;

	tfs_engine_opts_init(&o);
	o.strategy = strategy;
	o.block_size = block_size;
	o.cache_bytes = cache_bytes;
	o.readahead_bytes = readahead;
	o.threads = threads;
	if (tfs_engine_open(fx->cat, &o, &e, &err) < 0) {
		fprintf(stderr, "engine: %s\n", err.msg);
		abort();
	}
	return e;
}

#endif
