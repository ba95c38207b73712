/*
 * fuzz_gguf.c - libFuzzer target for the GGUF header parser (loader/format/gguf.c).
 *
 * Each input is parsed twice through an in-memory byte source: as a whole file, and behind a
 * valid GGUF head (magic, version 3, one tensor, the input's first byte as the key/value count)
 * with 4 KiB of zero data appended, so mutations reach the key/value and tensor-info paths
 * without having to rediscover the magic. On success every promise of format.h must hold.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "format/gguf.h"
#include "../tests/gguf_gen.h"

#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c)) {                                                      \
			fprintf(stderr, "fuzz_gguf: broken invariant: %s\n", #c);  \
			abort();                                                 \
		}                                                                \
	} while (0)

static void check(const unsigned char *p, size_t n)
{
	struct tfs_fmt_header h = { 0 };
	struct tfs_error err;
	struct gg_source s;
	int rc;

	gg_source_init(&s, "fuzz.gguf", p, n);
	memset(&err, 0, sizeof(err));
	rc = tfs_format_gguf.parse(&s.base, &h, &err);
	if (rc < 0) {
		CHECK(err.msg[0] && memchr(err.msg, '\0', sizeof(err.msg)));
		CHECK(h.n == 0 && h.t == NULL && h.meta_json == NULL);
		return;
	}
	CHECK(h.data_start <= n);
	for (size_t i = 0; i < h.n; i++) {
		const struct tfs_fmt_tensor *t = &h.t[i];
		uint64_t nb;
		CHECK(t->name && t->name[0] && strlen(t->name) <= TFS_GGUF_MAX_NAME);
		CHECK(t->ndim <= TFS_GGUF_MAX_DIMS);
		CHECK(strcmp(tfs_dtype_name(t->dtype), "?") != 0);
		CHECK(tfs_gguf_nbytes(t->dtype, t->ndim, t->shape, &nb) == 0 && nb == t->length);
		CHECK(t->offset >= h.data_start && t->offset <= n && t->length <= n - t->offset);
		if (i > 0)
			CHECK(t->offset >= h.t[i - 1].offset + h.t[i - 1].length);
	}
	json_t *m = json_loads(h.meta_json, JSON_ALLOW_NUL, NULL); /* GGUF strings may hold NULs */
	CHECK(json_is_object(m) && json_object_size(m) == h.n_meta);
	json_decref(m);
	for (size_t i = 0; i < h.n_meta; i++)
		CHECK(h.meta_keys[i] && h.meta_vals[i]);
	tfs_fmt_header_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gg g = { 0 };

	if (size > (1 << 20))
		return 0;
	check(data, size);
	gg_head(&g, 3, 1, size ? data[0] % 8 : 0);
	if (size > 1)
		gg_raw(&g, data + 1, size - 1);
	static const unsigned char zeros[4096];
	gg_raw(&g, zeros, sizeof(zeros));
	check(g.p, g.len);
	free(g.p);
	return 0;
}
