/* test_gguf.c - the GGUF parser (loader/format/gguf.c): every ggml type, v2/v3, metadata of every
 * value type, alignment, and every rejection class, on files written here from the spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "format/format.h"
#include "format/gguf.h"
#include "gguf_gen.h"

static int parse(struct gg *g, struct tfs_fmt_header *h, struct tfs_error *e)
{
	struct gg_source s;

	memset(e, 0, sizeof(*e));
	memset(h, 0, sizeof(*h));
	gg_source_init(&s, "x.gguf", g->p, g->len);
	return tfs_format_gguf.parse(&s.base, h, e);
}

/* Parses and expects -EINVAL with `want` in the message and an empty header. */
static void reject(struct gg *g, const char *want)
{
	struct tfs_fmt_header h;
	struct tfs_error e;
	int rc = parse(g, &h, &e);

	if (rc != -EINVAL || !strstr(e.msg, want) || !strstr(e.msg, "x.gguf"))
		fail_msg("want -EINVAL with '%s', got %d '%s'", want, rc, e.msg);
	assert_int_equal(h.n, 0);
	assert_null(h.t);
	free(g->p);
	memset(g, 0, sizeof(*g));
}

/* Every type of ggml's table (gguf-py's GGMLQuantizationType), by id, with its block geometry. */
static const struct { uint32_t id; const char *name; uint32_t elems, bytes; } types[] = {
	{ 0, "F32", 1, 4 },        { 1, "F16", 1, 2 },        { 2, "Q4_0", 32, 18 },
	{ 3, "Q4_1", 32, 20 },     { 6, "Q5_0", 32, 22 },     { 7, "Q5_1", 32, 24 },
	{ 8, "Q8_0", 32, 34 },     { 9, "Q8_1", 32, 36 },     { 10, "Q2_K", 256, 84 },
	{ 11, "Q3_K", 256, 110 },  { 12, "Q4_K", 256, 144 },  { 13, "Q5_K", 256, 176 },
	{ 14, "Q6_K", 256, 210 },  { 15, "Q8_K", 256, 292 },  { 16, "IQ2_XXS", 256, 66 },
	{ 17, "IQ2_XS", 256, 74 }, { 18, "IQ3_XXS", 256, 98 }, { 19, "IQ1_S", 256, 50 },
	{ 20, "IQ4_NL", 32, 18 },  { 21, "IQ3_S", 256, 110 }, { 22, "IQ2_S", 256, 82 },
	{ 23, "IQ4_XS", 256, 136 }, { 24, "I8", 1, 1 },       { 25, "I16", 1, 2 },
	{ 26, "I32", 1, 4 },       { 27, "I64", 1, 8 },       { 28, "F64", 1, 8 },
	{ 29, "IQ1_M", 256, 56 },  { 30, "BF16", 1, 2 },      { 34, "TQ1_0", 256, 54 },
	{ 35, "TQ2_0", 256, 66 },  { 39, "MXFP4", 32, 17 },   { 40, "NVFP4", 64, 36 },
	{ 41, "Q1_0", 128, 18 },
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static void test_every_type(void **state)
{
	for (uint32_t version = 2; version <= 3; version++) {
		struct gg g = { 0 };
		struct tfs_fmt_header h;
		struct tfs_error e;
		uint64_t off = 0, len[N_TYPES];

		/* one tensor per type, 3 rows of 2 blocks, each at the next 32-aligned offset */
		gg_head(&g, version, N_TYPES, 0);
		for (size_t i = 0; i < N_TYPES; i++) {
			uint64_t dims[2] = { 2 * types[i].elems, 3 };
			char name[32];
			snprintf(name, sizeof(name), "t.%s", types[i].name);
			gg_tensor(&g, name, 2, dims, types[i].id, off);
			len[i] = 6ull * types[i].bytes;
			off = (off + len[i] + 31) / 32 * 32;
		}
		gg_data(&g, 32, off);
		assert_int_equal(parse(&g, &h, &e), 0);
		assert_int_equal(h.n, N_TYPES);
		assert_int_equal(h.data_start % 32, 0);
		off = h.data_start;
		for (size_t i = 0; i < N_TYPES; i++) {
			const struct tfs_fmt_tensor *t = &h.t[i];
			uint32_t be = 1, bb = tfs_dtype_bits(t->dtype) / 8;
			assert_string_equal(tfs_dtype_name(t->dtype), types[i].name);
			assert_int_equal(t->ndim, 2);
			assert_int_equal(t->shape[0], 3);    /* numpy order: slowest first */
			assert_int_equal(t->shape[1], 2 * types[i].elems);
			assert_int_equal(t->offset, off);
			assert_int_equal(t->length, len[i]);
			assert_int_equal(tfs_dtype_block(t->dtype, &be, &bb), types[i].elems > 1);
			assert_int_equal(be, types[i].elems);
			assert_int_equal(bb, types[i].bytes);
			off = (off + len[i] + 31) / 32 * 32;
		}
		tfs_fmt_header_free(&h);
		free(g.p);
	}
	/* ids ggml removed or never had */
	static const uint32_t bad[] = { 4, 5, 31, 32, 33, 36, 37, 38, 42, 1000, UINT32_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gg g = { 0 };
		uint64_t dims[1] = { 256 };
		gg_head(&g, 3, 1, 0);
		gg_tensor(&g, "w", 1, dims, bad[i], 0);
		gg_data(&g, 32, 4096);
		reject(&g, "unknown ggml type");
	}
}

static void test_metadata(void **state)
{
	struct gg g = { 0 };
	struct tfs_fmt_header h;
	struct tfs_error e;
	float f = 0.5f;
	double d = -2.25;
	uint32_t fu;
	uint64_t du, dims[1] = { 4 };

	memcpy(&fu, &f, 4);
	memcpy(&du, &d, 8);
	gg_head(&g, 3, 1, 15);
	gg_kv_str(&g, "general.architecture", "llama");
	gg_str(&g, "u8"); gg_u32(&g, GG_U8); gg_le(&g, 200, 1);
	gg_str(&g, "i8"); gg_u32(&g, GG_I8); gg_le(&g, 0xff, 1);
	gg_str(&g, "u16"); gg_u32(&g, GG_U16); gg_le(&g, 65535, 2);
	gg_str(&g, "i16"); gg_u32(&g, GG_I16); gg_le(&g, 0x8000, 2);
	gg_kv_u32(&g, "u32", 4000000000u);
	gg_str(&g, "i32"); gg_u32(&g, GG_I32); gg_u32(&g, (uint32_t)-7);
	gg_str(&g, "f32"); gg_u32(&g, GG_F32); gg_u32(&g, fu);
	gg_str(&g, "b"); gg_u32(&g, GG_BOOL); gg_le(&g, 1, 1);
	gg_str(&g, "u64"); gg_u32(&g, GG_U64); gg_u64(&g, 1ull << 40);
	gg_str(&g, "i64"); gg_u32(&g, GG_I64); gg_u64(&g, (uint64_t)-5);
	gg_str(&g, "f64"); gg_u32(&g, GG_F64); gg_u64(&g, du);
	gg_str(&g, "tokenizer.ggml.tokens"); gg_u32(&g, GG_ARRAY); gg_u32(&g, GG_STRING); gg_u64(&g, 3);
	gg_str(&g, "<s>"); gg_str(&g, "a\"b"); gg_str(&g, "");
	gg_str(&g, "nested"); gg_u32(&g, GG_ARRAY); gg_u32(&g, GG_ARRAY); gg_u64(&g, 2);
	gg_u32(&g, GG_I32); gg_u64(&g, 2); gg_u32(&g, 1); gg_u32(&g, 2);
	gg_u32(&g, GG_I32); gg_u64(&g, 0);
	gg_str(&g, "empty"); gg_u32(&g, GG_ARRAY); gg_u32(&g, GG_F32); gg_u64(&g, 0);
	gg_tensor(&g, "w", 1, dims, 0, 0);
	gg_data(&g, 32, 16);
	assert_int_equal(parse(&g, &h, &e), 0);
	assert_int_equal(h.n_meta, 15);
	assert_string_equal(h.meta_keys[0], "general.architecture");
	assert_string_equal(h.meta_vals[0], "llama");          /* strings as they are */
	assert_string_equal(h.meta_vals[6], "-7");              /* the rest as JSON text */
	assert_string_equal(h.meta_keys[12], "tokenizer.ggml.tokens");
	assert_string_equal(h.meta_vals[12], "[\"<s>\",\"a\\\"b\",\"\"]");
	assert_string_equal(h.meta_json,
		"{\"general.architecture\":\"llama\",\"u8\":200,\"i8\":-1,\"u16\":65535,\"i16\":-32768,"
		"\"u32\":4000000000,\"i32\":-7,\"f32\":0.5,\"b\":true,\"u64\":1099511627776,\"i64\":-5,"
		"\"f64\":-2.25,\"tokenizer.ggml.tokens\":[\"<s>\",\"a\\\"b\",\"\"],\"nested\":[[1,2],[]],"
		"\"empty\":[]}");
	tfs_fmt_header_free(&h);
	free(g.p);
}

static void test_alignment_and_empty(void **state)
{
	struct gg g = { 0 };
	struct tfs_fmt_header h;
	struct tfs_error e;
	uint64_t dims[2] = { 3, 5 }, zero[1] = { 0 };

	/* general.alignment 64, a scalar (no dims), an empty tensor and a 3x5 F16 */
	gg_head(&g, 3, 3, 1);
	gg_kv_u32(&g, "general.alignment", 64);
	gg_tensor(&g, "blk.0.attn_q.weight", 2, dims, 1, 64);
	gg_tensor(&g, "scalar", 0, NULL, 0, 0);
	gg_tensor(&g, "empty", 1, zero, 0, 128);
	gg_data(&g, 64, 128);
	if (parse(&g, &h, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(h.data_start % 64, 0);
	assert_string_equal(h.t[0].name, "scalar");
	assert_int_equal(h.t[0].length, 4);
	assert_int_equal(h.t[0].ndim, 0);
	assert_string_equal(h.t[1].name, "blk.0.attn_q.weight");
	assert_int_equal(h.t[1].offset, h.data_start + 64);
	assert_int_equal(h.t[1].length, 30);
	assert_int_equal(h.t[1].shape[0], 5);
	assert_int_equal(h.t[2].length, 0);
	tfs_fmt_header_free(&h);
	free(g.p);
	memset(&g, 0, sizeof(g));

	/* No tensors and no padding: the file may end right after the key/values. */
	gg_head(&g, 2, 0, 1);
	gg_kv_str(&g, "k", "v");
	assert_int_equal(parse(&g, &h, &e), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(h.data_start, g.len);
	tfs_fmt_header_free(&h);
	free(g.p);
	memset(&g, 0, sizeof(g));

	/* An alignment of 1 needs no padding at all. */
	gg_head(&g, 3, 1, 1);
	gg_kv_u32(&g, "general.alignment", 1);
	gg_tensor(&g, "w", 1, dims, 24, 3);
	gg_data(&g, 1, 6);
	assert_int_equal(parse(&g, &h, &e), 0);
	assert_int_equal(h.t[0].offset, g.len - 3);
	tfs_fmt_header_free(&h);
	free(g.p);
}

/* A valid one-tensor file, for the truncation sweep. */
static void one_tensor(struct gg *g)
{
	uint64_t dims[2] = { 64, 2 };

	gg_head(g, 3, 1, 2);
	gg_kv_str(g, "general.name", "tiny");
	gg_kv_u32(g, "general.alignment", 32);
	gg_tensor(g, "output.weight", 2, dims, 8, 0);   /* Q8_0: 2 rows x 2 blocks x 34 bytes */
	gg_data(g, 32, 136);
}

static void test_truncated_everywhere(void **state)
{
	struct gg g = { 0 };
	struct tfs_fmt_header h;
	struct tfs_error e;

	one_tensor(&g);
	assert_int_equal(parse(&g, &h, &e), 0);
	tfs_fmt_header_free(&h);
	for (size_t n = 0; n < g.len; n++) {
		struct gg cut = { g.p, n, n };
		int rc = parse(&cut, &h, &e);
		if (rc != -EINVAL || !strstr(e.msg, "x.gguf"))
			fail_msg("prefix of %zu bytes: rc %d '%s'", n, rc, e.msg);
		assert_null(h.t);
	}
	free(g.p);
}

static void test_rejections(void **state)
{
	struct gg g = { 0 };
	uint64_t d1[1] = { 32 }, d2[2] = { 32, 2 }, d5[5] = { 1, 1, 1, 1, 1 };
	uint64_t big[2] = { 1ull << 62, 1ull << 62 };

	gg_raw(&g, "GGUG", 4); gg_u32(&g, 3); gg_u64(&g, 0); gg_u64(&g, 0);
	reject(&g, "bad GGUF magic");
	gg_head(&g, 1, 0, 0);
	reject(&g, "version 1 is not supported");
	gg_head(&g, 4, 0, 0);
	reject(&g, "version 4 is not supported");
	gg_head(&g, 0x03000000u, 0, 0);
	reject(&g, "big-endian");
	gg_head(&g, 3, 1ull << 60, 0);
	reject(&g, "cannot fit in the file");
	gg_head(&g, 3, 0, UINT64_MAX);
	reject(&g, "cannot fit in the file");
	/* string lengths beyond the file */
	gg_head(&g, 3, 0, 1); gg_u64(&g, 1ull << 50); gg_raw(&g, "xxxxxxxxxxxxxxxx", 16);
	reject(&g, "string length");
	gg_head(&g, 3, 0, 1); gg_str(&g, "k"); gg_u32(&g, GG_STRING); gg_u64(&g, UINT64_MAX);
	reject(&g, "string length");
	/* arrays beyond the file, unknown value and element types, too deep */
	gg_head(&g, 3, 0, 1); gg_str(&g, "k"); gg_u32(&g, GG_ARRAY); gg_u32(&g, GG_U64);
	gg_u64(&g, 1ull << 40);
	reject(&g, "runs past the end");
	gg_head(&g, 3, 0, 1); gg_str(&g, "k"); gg_u32(&g, 13); gg_u32(&g, 0);
	reject(&g, "unknown value type 13");
	gg_head(&g, 3, 0, 1); gg_str(&g, "k"); gg_u32(&g, GG_ARRAY); gg_u32(&g, 99); gg_u64(&g, 0);
	reject(&g, "unknown array element type 99");
	gg_head(&g, 3, 0, 1); gg_str(&g, "k"); gg_u32(&g, GG_ARRAY);
	for (int i = 0; i < 20; i++) {
		gg_u32(&g, GG_ARRAY); gg_u64(&g, 1);
	}
	gg_raw(&g, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	reject(&g, "nested deeper");
	gg_head(&g, 3, 0, 1); gg_str(&g, "k"); gg_u32(&g, GG_BOOL); gg_le(&g, 2, 1);
	reject(&g, "neither 0 nor 1");
	/* a string within the file but beyond the cap (sparse: only its length is written) */
	gg_head(&g, 3, 0, 1); gg_str(&g, "k"); gg_u32(&g, GG_STRING); gg_u64(&g, (64u << 20) + 1);
	{
		size_t at = g.len;
		gg_pad(&g, 1);
		g.p = realloc(g.p, at + (64u << 20) + 8);
		memset(g.p + at, 'a', (64u << 20) + 8);
		g.len = g.cap = at + (64u << 20) + 8;
	}
	reject(&g, "the cap is 64 MiB");
	/* keys */
	gg_head(&g, 3, 0, 2); gg_kv_str(&g, "k", "a"); gg_kv_str(&g, "k", "b");
	reject(&g, "duplicate");
	gg_head(&g, 3, 0, 1); gg_kv_str(&g, "", "a");
	reject(&g, "empty");
	gg_head(&g, 3, 0, 1); gg_strn(&g, "a\0b", 3); gg_u32(&g, GG_U8); gg_le(&g, 0, 1);
	reject(&g, "NUL");
	gg_head(&g, 3, 0, 1); gg_strn(&g, "\xff\xfe", 2); gg_u32(&g, GG_U8); gg_le(&g, 0, 1);
	reject(&g, "not UTF-8");
	/* alignment */
	gg_head(&g, 3, 0, 1); gg_kv_u32(&g, "general.alignment", 24);
	reject(&g, "power of two");
	gg_head(&g, 3, 0, 1); gg_kv_u32(&g, "general.alignment", 0);
	reject(&g, "power of two");
	gg_head(&g, 3, 0, 1); gg_kv_str(&g, "general.alignment", "32");
	reject(&g, "power of two");
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "w", 1, d1, 0, 16); gg_data(&g, 32, 256);
	reject(&g, "not a multiple of the alignment");
	/* tensor infos */
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "", 1, d1, 0, 0); gg_data(&g, 32, 128);
	reject(&g, "empty name");
	gg_head(&g, 3, 1, 0);
	gg_tensor(&g, "a_name_of_sixty_five_bytes_a_name_of_sixty_five_bytes_0123456789x", 1, d1, 0, 0);
	gg_data(&g, 32, 128);
	reject(&g, "longer than 64");
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "w", 5, d5, 0, 0); gg_data(&g, 32, 4);
	reject(&g, "5 dimensions");
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "w", 2, big, 0, 0); gg_data(&g, 32, 4);
	reject(&g, "overflows 64 bits");
	big[0] = 1ull << 63;
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "w", 1, big, 0, 0); gg_data(&g, 32, 4);
	reject(&g, "above INT64_MAX");
	d1[0] = 33;
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "w", 1, d1, 2, 0); gg_data(&g, 32, 64);
	reject(&g, "multiple of 32");
	d1[0] = 32;
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "w", 1, d1, 0, 0); gg_data(&g, 32, 127);
	reject(&g, "run past the end");
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "w", 1, d1, 0, UINT64_MAX - 31); gg_data(&g, 32, 128);
	reject(&g, "run past the end");
	gg_head(&g, 3, 2, 0); gg_tensor(&g, "a", 2, d2, 0, 0); gg_tensor(&g, "b", 1, d1, 0, 128);
	gg_data(&g, 32, 512);
	reject(&g, "overlaps");
	gg_head(&g, 3, 2, 0); gg_tensor(&g, "a", 1, d1, 0, 0); gg_tensor(&g, "a", 1, d1, 0, 128);
	gg_data(&g, 32, 512);
	reject(&g, "duplicate tensor name 'a'");
	/* the data section past the end of the file */
	gg_head(&g, 3, 1, 0); gg_tensor(&g, "a", 1, d1, 0, 0);
	reject(&g, "past the end");
}

static void test_probe(void **state)
{
	assert_true(tfs_format_gguf.probe((const unsigned char *)"GGUF\3\0\0\0", 8, 8));
	assert_false(tfs_format_gguf.probe((const unsigned char *)"GGU", 3, 3));
	assert_false(tfs_format_gguf.probe((const unsigned char *)"\x10\0\0\0\0\0\0\0{", 9, 9));
	assert_string_equal(tfs_format_gguf.name, "gguf");
}

/* ---- split sets, through the catalog ---------------------------------------------------------- */

/* Writes part `no` (from 0) of a `count`-file set: tensors "blk.<no>.w" and "blk.<no>.b". Negative
 * split values leave that key out; `name` overrides the tensor name prefix. */
static void write_part(const char *dir, const char *prefix, int no, int count, int key_no,
		       int key_count, int tensors_count, const char *name)
{
	struct gg g = { 0 };
	char fn[256], tn[64], tn2[64];
	uint64_t d[2] = { 32, 2 }, d1[1] = { 8 };
	int nkv = 1 + (key_no >= 0) + (key_count >= 0) + (tensors_count >= 0);
	FILE *f;

	snprintf(fn, sizeof(fn), "%s-%05d-of-%05d.gguf", prefix, no + 1, count);
	snprintf(tn, sizeof(tn), "%s.%d.w", name ? name : "blk", no);
	snprintf(tn2, sizeof(tn2), "blk.%d.b", no);
	gg_head(&g, 3, 2, (uint64_t)nkv);
	gg_kv_str(&g, "general.architecture", "llama");
	if (key_no >= 0) {
		gg_str(&g, "split.no"); gg_u32(&g, GG_U16); gg_le(&g, (uint64_t)key_no, 2);
	}
	if (key_count >= 0) {
		gg_str(&g, "split.count"); gg_u32(&g, GG_U16); gg_le(&g, (uint64_t)key_count, 2);
	}
	if (tensors_count >= 0) {
		gg_str(&g, "split.tensors.count"); gg_u32(&g, GG_I32); gg_u32(&g, (uint32_t)tensors_count);
	}
	gg_tensor(&g, tn, 2, d, 1, 0);      /* F16 2x32: 128 bytes */
	gg_tensor(&g, tn2, 1, d1, 0, 128);  /* F32 8: 32 bytes */
	gg_data(&g, 32, 160);
	f = fopen(ck_path(dir, fn), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(g.p, 1, g.len, f), g.len);
	fclose(f);
	free(g.p);
}

static void open_fails(const char *path, const char *want)
{
	struct tfs_catalog *cat = NULL;
	struct tfs_error e = { "" };
	int rc = tfs_catalog_open(path, &cat, &e);

	if (rc != -EINVAL || !strstr(e.msg, want))
		fail_msg("%s: want -EINVAL with '%s', got %d '%s'", path, want, rc, e.msg);
	assert_null(cat);
}

static void test_split_sets(void **state)
{
	char *dir = ck_tmpdir();
	struct tfs_catalog *cat;
	struct tfs_error e;

	/* a valid set of three */
	write_part(dir, "m", 0, 3, 0, 3, 6, NULL);
	write_part(dir, "m", 1, 3, 1, 3, -1, NULL);
	write_part(dir, "m", 2, 3, 2, 3, -1, NULL);
	if (tfs_catalog_open(ck_path(dir, "m-00001-of-00003.gguf"), &cat, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(tfs_catalog_layout(cat), "gguf-split");
	assert_int_equal(tfs_catalog_tensor_count(cat), 6);
	assert_int_equal(tfs_catalog_file_count(cat), 3);
	for (size_t i = 0; i < 6; i++) {
		const struct tfs_tensor *t = tfs_catalog_tensor(cat, i);
		char want[32];
		snprintf(want, sizeof(want), "blk.%zu.%c", i / 2, i % 2 ? 'b' : 'w');
		assert_string_equal(t->key, want);
		assert_int_equal(t->file, i / 2);
		assert_string_equal(tfs_catalog_file(cat, t->file)->rel,
				    i < 2 ? "m-00001-of-00003.gguf" : i < 4 ? "m-00002-of-00003.gguf"
									  : "m-00003-of-00003.gguf");
	}
	assert_non_null(tfs_catalog_find(cat, "blk.2.w"));
	assert_string_equal(tfs_dtype_name(tfs_catalog_find(cat, "blk.1.w")->dtype), "F16");
	assert_non_null(strstr(tfs_catalog_metadata_json(cat), "\"m-00003-of-00003.gguf\": {"));
	assert_non_null(strstr(tfs_catalog_metadata_json(cat), "\"split.no\": 2"));
	tfs_catalog_close(cat);

	/* a part that is not the first */
	open_fails(ck_path(dir, "m-00002-of-00003.gguf"), "open the first file");
	/* a missing part */
	unlink(ck_path(dir, "m-00003-of-00003.gguf"));
	{
		int rc = tfs_catalog_open(ck_path(dir, "m-00001-of-00003.gguf"), &cat, &e);
		assert_int_equal(rc, -ENOENT);
		assert_non_null(strstr(e.msg, "m-00003-of-00003.gguf"));
	}
	/* a part whose split.no disagrees with its name */
	write_part(dir, "m", 2, 3, 1, 3, -1, NULL);
	open_fails(ck_path(dir, "m-00001-of-00003.gguf"), "split.no/split.count are not 2/3");
	/* ... or whose count does */
	write_part(dir, "m", 2, 3, 2, 4, -1, NULL);
	open_fails(ck_path(dir, "m-00001-of-00003.gguf"), "split.no/split.count are not 2/3");
	/* tensors that do not add up */
	write_part(dir, "m", 2, 3, 2, 3, -1, NULL);
	write_part(dir, "m", 0, 3, 0, 3, 7, NULL);
	open_fails(ck_path(dir, "m-00001-of-00003.gguf"), "split.tensors.count is 7");
	/* the same tensor in two parts */
	write_part(dir, "m", 0, 3, 0, 3, 6, NULL);
	write_part(dir, "m", 1, 3, 1, 3, -1, NULL);
	{
		/* part 3 holds blk.0.w again (written under the name of part 0's tensor) */
		struct gg g = { 0 };
		uint64_t d[2] = { 32, 2 }, d1[1] = { 8 };
		FILE *f;
		gg_head(&g, 3, 2, 2);
		gg_str(&g, "split.no"); gg_u32(&g, GG_U16); gg_le(&g, 2, 2);
		gg_str(&g, "split.count"); gg_u32(&g, GG_U16); gg_le(&g, 3, 2);
		gg_tensor(&g, "blk.0.w", 2, d, 1, 0);
		gg_tensor(&g, "blk.2.b", 1, d1, 0, 128);
		gg_data(&g, 32, 160);
		f = fopen(ck_path(dir, "m-00003-of-00003.gguf"), "wb");
		fwrite(g.p, 1, g.len, f);
		fclose(f);
		free(g.p);
	}
	open_fails(ck_path(dir, "m-00001-of-00003.gguf"), "appears in both");
	/* a first file with split keys but a name that does not say so */
	write_part(dir, "n", 0, 2, 0, 2, -1, NULL);
	rename(ck_path(dir, "n-00001-of-00002.gguf"), ck_path(dir, "n.gguf"));
	open_fails(ck_path(dir, "n.gguf"), "open the first file");
	/* more parts than the file table's first capacity (16): it moves while the set is added */
	for (int k = 0; k < 20; k++)
		write_part(dir, "big", k, 20, k, 20, k ? -1 : 40, NULL);
	if (tfs_catalog_open(ck_path(dir, "big-00001-of-00020.gguf"), &cat, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(tfs_catalog_file_count(cat), 20);
	assert_int_equal(tfs_catalog_tensor_count(cat), 40);
	tfs_catalog_close(cat);
	unlink(ck_path(dir, "big-00018-of-00020.gguf"));
	{
		int rc = tfs_catalog_open(ck_path(dir, "big-00001-of-00020.gguf"), &cat, &e);
		assert_int_equal(rc, -ENOENT);
		assert_non_null(strstr(e.msg, "big-00018-of-00020.gguf: missing: part 18 of the 20-file "
				       "GGUF split set"));
	}
	/* a set of one is a plain file */
	write_part(dir, "o", 0, 1, 0, 1, 2, NULL);
	assert_int_equal(tfs_catalog_open(ck_path(dir, "o-00001-of-00001.gguf"), &cat, &e), 0);
	assert_string_equal(tfs_catalog_layout(cat), "gguf");
	tfs_catalog_close(cat);
	ck_rmrf(dir);
}

/* ---- a folder holding a GGUF checkpoint -------------------------------------------------------- */

static void folder_fails(const char *dir, int code, const char *want)
{
	struct tfs_catalog *cat = NULL;
	struct tfs_error e = { "" };
	int rc = tfs_catalog_open(dir, &cat, &e);

	if (rc != code || !strstr(e.msg, want))
		fail_msg("%s: want %d with '%s', got %d '%s'", dir, code, want, rc, e.msg);
	assert_null(cat);
}

static void test_folders(void **state)
{
	char *dir = ck_tmpdir();
	struct tfs_catalog *cat;
	struct tfs_error e;
	FILE *f;

	folder_fails(dir, -ENOENT, "nor a .gguf file");
	/* one lone .gguf beside a config: opens as GGUF, the config shows too */
	write_part(dir, "o", 0, 1, 0, 1, 2, NULL);
	rename(ck_path(dir, "o-00001-of-00001.gguf"), ck_path(dir, "lone.gguf"));
	f = fopen(ck_path(dir, "config.json"), "w");
	fputs("{}", f);
	fclose(f);
	if (tfs_catalog_open(dir, &cat, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(tfs_catalog_layout(cat), "gguf");
	assert_int_equal(tfs_catalog_tensor_count(cat), 2);
	assert_string_equal(tfs_catalog_file(cat, 0)->rel, "lone.gguf");
	assert_int_equal(tfs_catalog_file_count(cat), 2);
	tfs_catalog_close(cat);
	/* one split set (found by any part's name) */
	unlink(ck_path(dir, "lone.gguf"));
	write_part(dir, "m", 0, 3, 0, 3, 6, NULL);
	write_part(dir, "m", 1, 3, 1, 3, -1, NULL);
	write_part(dir, "m", 2, 3, 2, 3, -1, NULL);
	if (tfs_catalog_open(dir, &cat, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(tfs_catalog_layout(cat), "gguf-split");
	assert_int_equal(tfs_catalog_tensor_count(cat), 6);
	assert_string_equal(tfs_catalog_file(cat, 0)->rel, "m-00001-of-00003.gguf");
	assert_string_equal(tfs_catalog_file(cat, 2)->rel, "m-00003-of-00003.gguf");
	tfs_catalog_close(cat);
	/* a set missing a part: the error names it, whichever part is gone */
	rename(ck_path(dir, "m-00002-of-00003.gguf"), ck_path(dir, "keep"));
	folder_fails(dir, -ENOENT, "m-00002-of-00003.gguf");
	rename(ck_path(dir, "keep"), ck_path(dir, "m-00002-of-00003.gguf"));
	rename(ck_path(dir, "m-00001-of-00003.gguf"), ck_path(dir, "keep"));
	folder_fails(dir, -ENOENT, "m-00001-of-00003.gguf");
	rename(ck_path(dir, "keep"), ck_path(dir, "m-00001-of-00003.gguf"));
	/* two unrelated checkpoints: an error listing both, not a guess */
	write_part(dir, "o", 0, 1, 0, 1, 2, NULL);
	rename(ck_path(dir, "o-00001-of-00001.gguf"), ck_path(dir, "other.gguf"));
	folder_fails(dir, -EINVAL, "2 GGUF checkpoints (m-00001-of-00003.gguf, other.gguf): name the "
		     ".gguf file");
	/* a safetensors checkpoint in the folder still wins: GGUF is the fallback */
	unlink(ck_path(dir, "other.gguf"));
	{
		const struct ck_tensor t[] = { { "x", "U8", 1, { 4 } } };
		ck_write(ck_path(dir, "model.safetensors"), t, 1);
	}
	if (tfs_catalog_open(dir, &cat, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(tfs_catalog_layout(cat), "safetensors");
	tfs_catalog_close(cat);
	ck_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_alignment_and_empty),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_split_sets),
		cmocka_unit_test(test_folders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
