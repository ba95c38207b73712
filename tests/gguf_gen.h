/*
 * gguf_gen.h - writes GGUF files byte by byte from the spec (the ggml repository's docs/gguf.md),
 * for the unit tests and the fuzz target; and an in-memory byte source (io/source.h) to parse them
 * from. Header-only (static functions) so fuzz/ can include it without the test library.
 */
#ifndef TFS_GGUF_GEN_H
#define TFS_GGUF_GEN_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "io/source.h"

/* A growing byte buffer; abort()s when out of memory (tests only). */
struct gg {
	unsigned char *p;
	size_t len, cap;
};

static void gg_raw(struct gg *g, const void *b, size_t n)
{
	if (g->len + n > g->cap) {
		size_t cap = g->cap ? g->cap : 256;
		while (cap < g->len + n)
			cap *= 2;
		g->p = realloc(g->p, cap);
		if (!g->p)
			abort();
		g->cap = cap;
	}
	if (n)
		memcpy(g->p + g->len, b, n);
	g->len += n;
}

static void gg_le(struct gg *g, uint64_t v, unsigned n)
{
	unsigned char b[8];

	for (unsigned i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	gg_raw(g, b, n);
}

static void gg_u32(struct gg *g, uint32_t v) { gg_le(g, v, 4); }
static void gg_u64(struct gg *g, uint64_t v) { gg_le(g, v, 8); }

static void gg_strn(struct gg *g, const char *s, size_t n)
{
	gg_u64(g, n);
	gg_raw(g, s, n);
}

static void gg_str(struct gg *g, const char *s) { gg_strn(g, s, strlen(s)); }

static void gg_pad(struct gg *g, uint64_t align)
{
	while (g->len % align)
		gg_raw(g, "", 1);
}

/* Value types of the spec. */
enum { GG_U8, GG_I8, GG_U16, GG_I16, GG_U32, GG_I32, GG_F32, GG_BOOL, GG_STRING, GG_ARRAY,
       GG_U64, GG_I64, GG_F64 };

static void gg_head(struct gg *g, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	gg_raw(g, "GGUF", 4);
	gg_u32(g, version);
	gg_u64(g, n_tensors);
	gg_u64(g, n_kv);
}

static void gg_kv_u32(struct gg *g, const char *key, uint32_t v)
{
	gg_str(g, key);
	gg_u32(g, GG_U32);
	gg_u32(g, v);
}

static void gg_kv_str(struct gg *g, const char *key, const char *v)
{
	gg_str(g, key);
	gg_u32(g, GG_STRING);
	gg_str(g, v);
}

/* dims are fastest first, as GGUF stores them. */
static void gg_tensor(struct gg *g, const char *name, uint32_t ndim, const uint64_t *dims,
		      uint32_t type, uint64_t offset)
{
	gg_str(g, name);
	gg_u32(g, ndim);
	for (uint32_t i = 0; i < ndim; i++)
		gg_u64(g, dims[i]);
	gg_u32(g, type);
	gg_u64(g, offset);
}

/* The data section: pads to `align`, then `n` bytes of a pattern that depends on the position. */
static void gg_data(struct gg *g, uint64_t align, uint64_t n)
{
	gg_pad(g, align);
	for (uint64_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)(i * 7 + (i >> 8));
		gg_raw(g, &b, 1);
	}
}

/* ---- an in-memory byte source ------------------------------------------------------------------- */

struct gg_source {
	struct tfs_source base;
	const unsigned char *p;
};

static ssize_t gg_source_read(struct tfs_source *s, void *buf, size_t len, uint64_t off,
			      unsigned flags, struct tfs_error *err)
{
	struct gg_source *m = (struct gg_source *)s;

	if (off >= s->info.size)
		return 0;
	if (len > s->info.size - off)
		len = (size_t)(s->info.size - off);
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

static int gg_source_check(struct tfs_source *s, struct tfs_error *err) { return 0; }
static void gg_source_close(struct tfs_source *s) { }

static const struct tfs_source_ops gg_source_ops = {
	.kind = "memory", .read = gg_source_read, .check = gg_source_check, .close = gg_source_close,
};

/* A source over p[0..n) named `path`; the bytes must outlive it. */
static void gg_source_init(struct gg_source *m, const char *path, const void *p, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->base.ops = &gg_source_ops;
	m->base.path = (char *)path;
	m->base.info.size = n;
	m->base.info.mode = 0444;
	m->p = p;
}

#endif
