/*
 * test_format.c - the format table (loader/format/format.c): a file is matched to its format by
 * its first bytes, else by its name's suffix, else refused with a message naming it; the
 * safetensors entry parses through the seam into absolute offsets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ckpt.h"
#include "format/format.h"

/* Detects the format of the file at p; returns detect's rc. */
static int detect(const char *p, const struct tfs_format **fmt, struct tfs_error *err)
{
	struct tfs_source *s;
	int rc = tfs_source_open(p, NULL, &s, err);

	assert_int_equal(rc, 0);
	*fmt = NULL;
	rc = tfs_format_detect(s, fmt, err);
	tfs_source_close(s);
	return rc;
}

static void test_probe(void **state)
{
	const struct tfs_format *st = &tfs_format_safetensors;
	unsigned char h[16] = { 6, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', 0, 0 };

	assert_true(st->probe(h, 16, 14));          /* 8 + 6-byte header, no data */
	assert_true(st->probe(h, 16, 1000));
	assert_false(st->probe(h, 16, 13));         /* the header runs past the end */
	assert_false(st->probe(h, 8, 14));          /* too few bytes to see the '{' */
	h[8] = '[';
	assert_false(st->probe(h, 16, 14));         /* JSON, but not an object */
	h[8] = '{';
	h[7] = 1;                                   /* a length of 2^56 + 6 */
	assert_false(st->probe(h, 16, 1000));
	assert_false(st->probe((const unsigned char *)"GGUF\3\0\0\0\0\0\0\0\0\0\0\0", 16, 1000));
}

static void test_detect(void **state)
{
	char *dir = ck_tmpdir();
	struct ck_tensor t[] = { { "w", "F32", 2, { 2, 3 } } };
	const struct tfs_format *fmt;
	struct tfs_error err;
	const char *p;

	/* By its bytes, whatever its name. */
	p = ck_path(dir, "weights.bin");
	assert_int_equal(ck_write(p, t, 1), 0);
	assert_int_equal(detect(p, &fmt, &err), 0);
	assert_ptr_equal(fmt, &tfs_format_safetensors);
	/* Damaged, but named like one: safetensors, so its parser names the damage. */
	p = ck_path(dir, "broken.safetensors");
	assert_int_equal(ck_write_text(p, "not a header at all"), 0);
	assert_int_equal(detect(p, &fmt, &err), 0);
	assert_ptr_equal(fmt, &tfs_format_safetensors);
	/* Neither: refused, naming the file and the formats there are. */
	p = ck_path(dir, "notes.txt");
	assert_int_equal(ck_write_text(p, "hello"), 0);
	assert_int_equal(detect(p, &fmt, &err), -EINVAL);
	assert_non_null(strstr(err.msg, p));
	assert_non_null(strstr(err.msg, "safetensors"));
	/* An empty file has no first bytes to probe. */
	p = ck_path(dir, "empty");
	assert_int_equal(ck_write_text(p, ""), 0);
	assert_int_equal(detect(p, &fmt, &err), -EINVAL);
	ck_rmrf(dir);
}

static void test_by_suffix(void **state)
{
	assert_ptr_equal(tfs_format_by_suffix("a/model.safetensors"), &tfs_format_safetensors);
	assert_null(tfs_format_by_suffix("model.safetensors.index.json"));
	assert_null(tfs_format_by_suffix(".safetensor"));
	assert_null(tfs_format_by_suffix(""));
}

/* Through the seam: absolute offsets, tensors in file order, the data region after the header. */
static void test_parse(void **state)
{
	char *dir = ck_tmpdir();
	struct ck_tensor t[] = { { "b", "F32", 2, { 2, 3 } }, { "a", "BF16", 1, { 5 } } };
	const char *p = ck_path(dir, "m.safetensors");
	struct tfs_fmt_header h = { 0 };
	struct tfs_source *s;
	struct tfs_error err;

	assert_int_equal(ck_write(p, t, 2), 0);
	assert_int_equal(tfs_source_open(p, NULL, &s, &err), 0);
	assert_int_equal(tfs_format_safetensors.parse(s, &h, &err), 0);
	assert_int_equal(h.n, 2);
	assert_true(h.data_start > 8);
	assert_int_equal(h.t[0].offset, h.data_start);
	assert_int_equal(h.t[1].offset, h.t[0].offset + h.t[0].length);
	assert_int_equal(h.t[1].offset + h.t[1].length, s->info.size);
	assert_int_equal(h.t[0].length + h.t[1].length, 24 + 10);
	assert_string_equal(tfs_format_safetensors.dtype_name(h.t[0].dtype),
			    h.t[0].length == 24 ? "F32" : "BF16");
	tfs_fmt_header_free(&h);
	assert_null(h.t);
	tfs_fmt_header_free(&h);   /* an empty header is fine */
	tfs_source_close(s);
	ck_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_by_suffix),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
