/* test_safetensors.c - the header parser: every valid shape of header and every rejection class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "format/safetensors.h"

static int parse(const char *json, uint64_t data_len, struct tfs_st_header *h, struct tfs_error *e)
{
	memset(e, 0, sizeof(*e));
	return tfs_st_parse("x.safetensors", json, strlen(json), data_len, h, e);
}

static void test_all_dtypes(void **state)
{
	static const struct { const char *dt; unsigned count; uint64_t bytes; } cases[] = {
		{ "BOOL", 3, 3 }, { "F4", 4, 2 }, { "F6_E2M3", 4, 3 }, { "F6_E3M2", 8, 6 },
		{ "U8", 5, 5 }, { "I8", 5, 5 }, { "F8_E5M2", 2, 2 }, { "F8_E4M3", 2, 2 },
		{ "F8_E8M0", 2, 2 }, { "I16", 3, 6 }, { "U16", 3, 6 }, { "F16", 3, 6 },
		{ "BF16", 3, 6 }, { "I32", 2, 8 }, { "U32", 2, 8 }, { "F32", 2, 8 }, { "C64", 2, 16 },
		{ "F64", 2, 16 }, { "I64", 2, 16 }, { "U64", 2, 16 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[256];
		struct tfs_st_header h;
		struct tfs_error e;
		snprintf(json, sizeof(json), "{\"t\":{\"dtype\":\"%s\",\"shape\":[%u],\"data_offsets\":[0,%llu]}}",
			 cases[i].dt, cases[i].count, (unsigned long long)cases[i].bytes);
		assert_int_equal(parse(json, cases[i].bytes, &h, &e), 0);
		assert_int_equal(h.n, 1);
		assert_string_equal(tfs_dtype_name(h.t[0].dtype), cases[i].dt);
		assert_int_equal(h.t[0].end, cases[i].bytes);
		tfs_st_free(&h);
	}
}

static void test_order_scalar_empty_metadata(void **state)
{
	/* Key order is not disk order; a scalar is one element; a 0 dim is an empty tensor. */
	const char *json = "{\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
			   "\"__metadata__\":{\"format\":\"pt\",\"x\":\"y\"},"
			   "\"e\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[12,12]},"
			   "\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}   ";
	struct tfs_st_header h;
	struct tfs_error e;

	assert_int_equal(parse(json, 12, &h, &e), 0);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.t[0].name, "a");
	assert_string_equal(h.t[1].name, "b");
	assert_int_equal(h.t[1].ndim, 0);
	assert_string_equal(h.t[2].name, "e");
	assert_int_equal(h.n_meta, 2);
	assert_string_equal(h.meta_keys[1], "x");
	assert_string_equal(h.meta_vals[1], "y");
	tfs_st_free(&h);
	/* An empty checkpoint is valid when the data region is empty too. */
	assert_int_equal(parse("{}", 0, &h, &e), 0);
	assert_int_equal(h.n, 0);
	tfs_st_free(&h);
}

static void test_rejections(void **state)
{
	static const struct { const char *json; uint64_t data_len; const char *msg; } cases[] = {
		{ "{\"t\":", 0, "not valid JSON" },
		{ "[1,2]", 0, "not a JSON object" },
		{ "{\"t\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'F33'" },
		{ "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "no dtype" },
		{ "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "no shape" },
		{ "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]" },
		{ "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets" },
		{ "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "before begin" },
		{ "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8" },
		{ "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
		  "overflows" },
		{ "{\"t\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, "whole number of bytes" },
		{ "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate" },
		{ "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty name" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 6, "overlaps" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap of 4 bytes" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "data region is 8" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, "data region is 2" },
		{ "{\"__metadata__\":{\"k\":1}}", 0, "not a string" },
		{ "{\"__metadata__\":[]}", 0, "__metadata__ is not an object" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, "not valid JSON" },
		{ "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "not valid JSON" },
		{ "{\"t\":5}", 0, "not an object" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tfs_st_header h = { 0 };
		struct tfs_error e;
		int rc = parse(cases[i].json, cases[i].data_len, &h, &e);
		if (rc != -EINVAL || !strstr(e.msg, cases[i].msg) || !strstr(e.msg, "x.safetensors"))
			fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, e.msg, cases[i].msg);
		assert_int_equal(h.n, 0);
	}
}

static void test_invalid_utf8(void **state)
{
	const char json[] = "{\"\xff\xfe\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
	struct tfs_st_header h;
	struct tfs_error e;

	assert_int_equal(tfs_st_parse("x.safetensors", json, sizeof(json) - 1, 1, &h, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not valid JSON"));
}

/* tfs_st_read of the file at p, through a local byte source. */
static int read_path(const char *p, struct tfs_st_header *h, struct tfs_error *e)
{
	struct tfs_source *src;
	int rc = tfs_source_open(p, NULL, &src, e);

	if (rc < 0)
		return rc;
	rc = tfs_st_read(src, h, e);
	tfs_source_close(src);
	return rc;
}

/* File-level rules: the length prefix. */
static void test_file_lengths(void **state)
{
	char *dir = ck_tmpdir();
	const char *p = ck_path(dir, "f.safetensors");
	struct tfs_st_header h;
	struct tfs_error e;
	unsigned char bytes[16] = { 0 };
	FILE *f;

	/* Too small for the length prefix. */
	f = fopen(p, "wb");
	fwrite(bytes, 1, 5, f);
	fclose(f);
	assert_int_equal(read_path(p, &h, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "too small"));
	/* Length beyond the file. */
	bytes[0] = 200;
	f = fopen(p, "wb");
	fwrite(bytes, 1, 16, f);
	fclose(f);
	assert_int_equal(read_path(p, &h, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "runs past the end"));
	/* Length above the cap (checked before allocating anything). */
	memset(bytes, 0, 8);
	bytes[4] = 1; /* 2^32 */
	f = fopen(p, "wb");
	fwrite(bytes, 1, 16, f);
	fclose(f);
	assert_int_equal(read_path(p, &h, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "above the"));
	/* A valid file round-trips and data_start is 8 + padded header. */
	struct ck_tensor t[] = { { "w", "F32", 2, { 2, 3 } } };
	assert_int_equal(ck_write(p, t, 1), 0);
	assert_int_equal(read_path(p, &h, &e), 0);
	assert_int_equal(h.data_start % 8, 0);
	assert_int_equal(h.t[0].end, 24);
	tfs_st_free(&h);
	ck_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_dtypes),
		cmocka_unit_test(test_order_scalar_empty_metadata),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_file_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
