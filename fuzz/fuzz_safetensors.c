/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors header parser (loader/format/safetensors.c).
 *
 * Each input is used three ways:
 *  1. as a whole file (8-byte length, JSON, data) read through tfs_st_read from a memfd (a local
 *     byte source on /proc/self/fd/N);
 *  2. as the JSON text of a header, parsed by tfs_st_parse with the data length the header itself
 *     claims (the largest data_offsets end), so valid-looking headers reach the success path;
 *  3. as that JSON wrapped into a well-formed file (length prefix + sparse data region), read
 *     through tfs_st_read.
 * On success the parsed header must satisfy every promise of safetensors.h; a broken promise aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format/safetensors.h"

static int memfd = -1;

/* Abort with a message: libFuzzer saves the input as a crash. */
#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c)) {                                                      \
			fprintf(stderr, "fuzz_safetensors: broken invariant: %s\n", #c); \
			abort();                                                 \
		}                                                                \
	} while (0)

static void check_header(const struct tfs_st_header *h, uint64_t data_len)
{
	uint64_t pos = 0;

	for (size_t i = 0; i < h->n; i++) {
		const struct tfs_st_tensor *t = &h->t[i];
		uint64_t nb;
		CHECK(t->name && t->name[0]);
		CHECK(t->begin == pos && t->end >= t->begin);
		CHECK(tfs_st_nbytes(t->dtype, t->ndim, t->shape, &nb) == 0 && nb == t->end - t->begin);
		CHECK(strcmp(tfs_dtype_name(t->dtype), "?") != 0);
		pos = t->end;
	}
	CHECK(pos == data_len);
	for (size_t i = 0; i < h->n_meta; i++)
		CHECK(h->meta_keys[i] && h->meta_vals[i]);
}

static void check_err(int rc, const struct tfs_error *err)
{
	if (rc < 0)
		CHECK(memchr(err->msg, '\0', sizeof(err->msg)) && err->msg[0]);
}

/* The data length the header claims: the largest data_offsets end, or 0. */
static uint64_t claimed_len(const uint8_t *d, size_t n)
{
	json_t *root = json_loadb((const char *)d, n, 0, NULL), *v;
	const char *k;
	uint64_t max = 0;

	if (!json_is_object(root)) {
		json_decref(root);
		return 0;
	}
	json_object_foreach(root, k, v) {
		json_t *end = json_array_get(json_object_get(v, "data_offsets"), 1);
		if (json_is_integer(end) && json_integer_value(end) > 0 &&
		    (uint64_t)json_integer_value(end) > max)
			max = (uint64_t)json_integer_value(end);
	}
	json_decref(root);
	return max;
}

static void read_file(const uint8_t *head, size_t head_len, const uint8_t *body, size_t body_len,
		      uint64_t sparse_tail)
{
	struct tfs_st_header h = { 0 };
	struct tfs_error err;
	uint64_t size = head_len + body_len + sparse_tail;
	int rc;

	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, head, head_len, 0) != (ssize_t)head_len ||
	    pwrite(memfd, body, body_len, (off_t)head_len) != (ssize_t)body_len ||
	    ftruncate(memfd, (off_t)size) < 0)
		abort();
	char path[64];
	struct tfs_source *src;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	if (tfs_source_open(path, NULL, &src, &err) < 0)
		abort();
	rc = tfs_st_read(src, &h, &err);
	tfs_source_close(src);
	check_err(rc, &err);
	if (rc == 0) {
		CHECK(h.data_start >= 8 && h.data_start <= size);
		check_header(&h, size - h.data_start);
	} else {
		CHECK(h.n == 0 && h.t == NULL);
	}
	tfs_st_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfs_st_header h = { 0 };
	struct tfs_error err;
	uint64_t claim;
	int rc;

	if (memfd < 0 && (memfd = memfd_create("fuzz_st", MFD_CLOEXEC)) < 0)
		abort();
	if (size > (1 << 20))
		return 0;

	/* 1: the input is the whole file. */
	read_file(data, size, NULL, 0, 0);

	/* 2: the input is the JSON header. */
	claim = claimed_len(data, size);
	rc = tfs_st_parse("fuzz.json", (const char *)data, size, claim, &h, &err);
	check_err(rc, &err);
	if (rc == 0)
		check_header(&h, claim);
	tfs_st_free(&h);
	if (rc == 0) {
		/* One byte more data than the tensors cover is a gap: must be refused. */
		rc = tfs_st_parse("fuzz.json", (const char *)data, size, claim + 1, &h, &err);
		CHECK(rc < 0);
		check_err(rc, &err);
		tfs_st_free(&h);
	}

	/* 3: the JSON inside a well-formed file with the data region it claims (sparse). */
	if (claim <= (64ULL << 20)) {
		unsigned char le[8];
		for (int i = 0; i < 8; i++)
			le[i] = (unsigned char)((uint64_t)size >> (8 * i));
		{
			uint8_t *buf = malloc(size + 8);
			if (!buf)
				return 0;
			memcpy(buf, le, 8);
			memcpy(buf + 8, data, size);
			read_file(buf, size + 8, NULL, 0, claim);
			free(buf);
		}
	}
	return 0;
}
