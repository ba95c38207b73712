/*
 * gguf.c - the GGUF v2/v3 header parser behind the format seam (format.h). A GGUF file is a fixed
 * head (magic, version, tensor count, key/value count), the key/value pairs, the tensor infos
 * (name, dims fastest-first, ggml type, offset), padding to `general.alignment` (default 32), then
 * the data section; every offset is relative to it (the ggml repository's docs/gguf.md).
 *
 * Every length and count is checked against the bytes left in the file before anything is
 * allocated, so a hostile header cannot make us allocate or loop beyond its own size. Tensors come
 * out with absolute byte ranges, numpy-order shapes and their ggml type as a tfs dtype; the
 * key/value pairs come out as strings (GGUF strings as they are, other values as JSON text) and as
 * one typed JSON object (meta_json), arrays such as the tokenizer vocabulary included.
 * Little-endian only: a big-endian file (v3 allows them) is refused by name.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "format/format.h"
#include "format/gguf.h"

/* ggml type id -> tfs dtype; -1 for ids ggml never had or removed (Q4_2, Q4_3, the 4_4/4_8/8_8
 * repacks), which no file may carry. */
static const int ggml_types[] = {
	[0] = TFS_DTYPE_F32,      [1] = TFS_DTYPE_F16,      [2] = TFS_DTYPE_Q4_0,
	[3] = TFS_DTYPE_Q4_1,     [4] = -1,                 [5] = -1,
	[6] = TFS_DTYPE_Q5_0,     [7] = TFS_DTYPE_Q5_1,     [8] = TFS_DTYPE_Q8_0,
	[9] = TFS_DTYPE_Q8_1,     [10] = TFS_DTYPE_Q2_K,    [11] = TFS_DTYPE_Q3_K,
	[12] = TFS_DTYPE_Q4_K,    [13] = TFS_DTYPE_Q5_K,    [14] = TFS_DTYPE_Q6_K,
	[15] = TFS_DTYPE_Q8_K,    [16] = TFS_DTYPE_IQ2_XXS, [17] = TFS_DTYPE_IQ2_XS,
	[18] = TFS_DTYPE_IQ3_XXS, [19] = TFS_DTYPE_IQ1_S,   [20] = TFS_DTYPE_IQ4_NL,
	[21] = TFS_DTYPE_IQ3_S,   [22] = TFS_DTYPE_IQ2_S,   [23] = TFS_DTYPE_IQ4_XS,
	[24] = TFS_DTYPE_I8,      [25] = TFS_DTYPE_I16,     [26] = TFS_DTYPE_I32,
	[27] = TFS_DTYPE_I64,     [28] = TFS_DTYPE_F64,     [29] = TFS_DTYPE_IQ1_M,
	[30] = TFS_DTYPE_BF16,    [31] = -1,                [32] = -1,
	[33] = -1,                [34] = TFS_DTYPE_TQ1_0,   [35] = TFS_DTYPE_TQ2_0,
	[36] = -1,                [37] = -1,                [38] = -1,
	[39] = TFS_DTYPE_MXFP4,   [40] = TFS_DTYPE_NVFP4,   [41] = TFS_DTYPE_Q1_0,
};

int tfs_gguf_dtype(uint32_t type, enum tfs_dtype *out)
{
	if (type >= sizeof(ggml_types) / sizeof(ggml_types[0]) || ggml_types[type] < 0)
		return -EINVAL;
	*out = (enum tfs_dtype)ggml_types[type];
	return 0;
}

int tfs_gguf_nbytes(enum tfs_dtype dt, uint32_t ndim, const uint64_t *shape, uint64_t *out)
{
	uint32_t be = 1, bb = tfs_dtype_bits(dt) / 8;
	uint64_t elems = 1, bytes;

	tfs_dtype_block(dt, &be, &bb);
	if (bb == 0)
		return -EINVAL;
	if (ndim > 0 && shape[ndim - 1] % be)
		return -EINVAL;
	for (uint32_t i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(elems, shape[i], &elems))
			return -EOVERFLOW;
	if (__builtin_mul_overflow(elems / be, (uint64_t)bb, &bytes))
		return -EOVERFLOW;
	*out = bytes;
	return 0;
}

/* ---- a bounded, buffered cursor over the source ------------------------------------------------ */

#define RD_CHUNK (1u << 20)

struct rd {
	struct tfs_source *src;
	const char *fname;
	struct tfs_error *err;
	uint64_t size, pos;          /* file size; next byte to hand out */
	uint64_t values_left;        /* metadata values still allowed (TFS_GGUF_MAX_VALUES) */
	unsigned char *buf;          /* bytes [buf_off, buf_off + buf_len) of the file */
	uint64_t buf_off;
	size_t buf_len, buf_cap;
};

/* Copies the next n bytes (n <= bytes left, checked by the caller through rd_need). */
static int rd_copy(struct rd *r, void *out, size_t n)
{
	unsigned char *o = out;

	while (n > 0) {
		if (r->pos < r->buf_off || r->pos >= r->buf_off + r->buf_len) {
			size_t want = r->buf_cap;
			ssize_t got;

			if (want > r->size - r->pos)
				want = (size_t)(r->size - r->pos);
			got = tfs_source_read(r->src, r->buf, want, r->pos, 0, r->err);
			if (got < 0)
				return (int)got;
			if ((size_t)got != want)
				return tfs_error_set(r->err, -EIO, "%s: file shrank while its GGUF header "
						     "was read", r->fname);
			r->buf_off = r->pos;
			r->buf_len = want;
		}
		size_t have = (size_t)(r->buf_off + r->buf_len - r->pos);
		size_t k = n < have ? n : have;
		memcpy(o, r->buf + (r->pos - r->buf_off), k);
		o += k;
		n -= k;
		r->pos += k;
	}
	return 0;
}

/* -EINVAL naming `what` when fewer than n bytes are left. */
static int rd_need(struct rd *r, uint64_t n, const char *what)
{
	if (n > r->size - r->pos)
		return tfs_error_set(r->err, -EINVAL, "%s: %s at byte %" PRIu64 " runs past the end of "
				     "the file (%" PRIu64 " bytes)", r->fname, what, r->pos, r->size);
	return 0;
}

static int rd_le(struct rd *r, unsigned n, uint64_t *out, const char *what)
{
	unsigned char b[8];
	uint64_t v = 0;
	int rc = rd_need(r, n, what);

	if (rc == 0)
		rc = rd_copy(r, b, n);
	if (rc < 0)
		return rc;
	for (unsigned i = n; i-- > 0;)
		v = v << 8 | b[i];
	*out = v;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *out, const char *what)
{
	uint64_t v;
	int rc = rd_le(r, 4, &v, what);

	*out = (uint32_t)v;
	return rc;
}

/* A gguf_string: uint64 length then the bytes (no NUL); *out is malloc'ed and NUL-terminated. */
static int rd_str(struct rd *r, char **out, uint64_t *len_out, const char *what)
{
	uint64_t len;
	int rc = rd_le(r, 8, &len, what);

	if (rc < 0)
		return rc;
	if (len > r->size - r->pos)
		return tfs_error_set(r->err, -EINVAL, "%s: %s: string length %" PRIu64 " at byte %" PRIu64
				     " runs past the end of the file (%" PRIu64 " bytes)", r->fname,
				     what, len, r->pos - 8, r->size);
	if (len > TFS_GGUF_MAX_STRING)
		return tfs_error_set(r->err, -EINVAL, "%s: %s: string of %" PRIu64 " bytes at byte %"
				     PRIu64 " (the cap is %d MiB)", r->fname, what, len, r->pos - 8,
				     TFS_GGUF_MAX_STRING >> 20);
	*out = malloc(len + 1);
	if (!*out)
		return tfs_error_set(r->err, -ENOMEM, "%s: out of memory", r->fname);
	rc = rd_copy(r, *out, (size_t)len);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return rc;
	}
	(*out)[len] = '\0';
	if (len_out)
		*len_out = len;
	return 0;
}

/* ---- key/value pairs ---------------------------------------------------------------------------- */

enum { GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STRING, GT_ARRAY,
       GT_U64, GT_I64, GT_F64, GT_COUNT };

/* Bytes of a scalar value; 0 for STRING/ARRAY (variable) and unknown types. */
static unsigned scalar_size(uint32_t t)
{
	static const unsigned sz[GT_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

	return t < GT_COUNT ? sz[t] : 0;
}

/* A JSON string of bytes that may not be UTF-8: invalid bytes become '?' (JSON holds text only). */
static json_t *json_bytes(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	char *c;

	if (j)
		return j;
	c = malloc(len + 1);
	if (!c)
		return NULL;
	for (size_t i = 0; i < len; i++)
		c[i] = (unsigned char)s[i] < 0x80 && s[i] != '\0' ? s[i] : '?';
	j = json_stringn(c, len);
	free(c);
	return j;
}

static int read_value(struct rd *r, uint32_t type, unsigned depth, const char *key, json_t **out);

static int read_array(struct rd *r, unsigned depth, const char *key, json_t **out)
{
	uint32_t et;
	uint64_t n, min;
	json_t *arr;
	int rc;

	if ((rc = rd_u32(r, &et, "array type")) < 0 || (rc = rd_le(r, 8, &n, "array length")) < 0)
		return rc;
	if (et >= GT_COUNT)
		return tfs_error_set(r->err, -EINVAL, "%s: key '%s': unknown array element type %u",
				     r->fname, key, et);
	if (et == GT_ARRAY && depth + 1 >= TFS_GGUF_MAX_DEPTH)
		return tfs_error_set(r->err, -EINVAL, "%s: key '%s': arrays nested deeper than %d",
				     r->fname, key, TFS_GGUF_MAX_DEPTH);
	/* Smallest encoding of one element: a string is at least its length, an array its type and
	 * length. A count the rest of the file cannot hold is refused before any allocation. */
	min = et == GT_STRING ? 8 : et == GT_ARRAY ? 12 : scalar_size(et);
	if (n > (r->size - r->pos) / min)
		return tfs_error_set(r->err, -EINVAL, "%s: key '%s': array of %" PRIu64 " elements "
				     "runs past the end of the file", r->fname, key, n);
	arr = json_array();
	if (!arr)
		return tfs_error_set(r->err, -ENOMEM, "%s: out of memory", r->fname);
	for (uint64_t i = 0; i < n; i++) {
		json_t *v;

		rc = read_value(r, et, depth + 1, key, &v);
		if (rc < 0)
			goto fail;
		if (json_array_append_new(arr, v) < 0) {
			rc = tfs_error_set(r->err, -ENOMEM, "%s: out of memory", r->fname);
			goto fail;
		}
	}
	*out = arr;
	return 0;
fail:
	json_decref(arr);
	return rc;
}

static int read_value(struct rd *r, uint32_t type, unsigned depth, const char *key, json_t **out)
{
	uint64_t v, len;
	char *s;
	int rc;

	*out = NULL;
	if (r->values_left == 0)
		return tfs_error_set(r->err, -EINVAL, "%s: key '%s': more than %d metadata values in all",
				     r->fname, key, TFS_GGUF_MAX_VALUES);
	r->values_left--;
	if (type == GT_STRING) {
		if ((rc = rd_str(r, &s, &len, key)) < 0)
			return rc;
		*out = json_bytes(s, (size_t)len);
		free(s);
	} else if (type == GT_ARRAY) {
		return read_array(r, depth, key, out);
	} else if (type < GT_COUNT) {
		if ((rc = rd_le(r, scalar_size(type), &v, key)) < 0)
			return rc;
		switch (type) {
		case GT_U8: case GT_U16: case GT_U32:
			*out = json_integer((json_int_t)v);
			break;
		case GT_I8: *out = json_integer((int8_t)v); break;
		case GT_I16: *out = json_integer((int16_t)v); break;
		case GT_I32: *out = json_integer((int32_t)v); break;
		case GT_I64: *out = json_integer((json_int_t)(int64_t)v); break;
		case GT_U64:
			/* JSON integers are signed 64-bit in jansson: larger values become reals */
			*out = v > INT64_MAX ? json_real((double)v) : json_integer((json_int_t)v);
			break;
		case GT_BOOL:
			if (v > 1)
				return tfs_error_set(r->err, -EINVAL, "%s: key '%s': bool value %" PRIu64
						     " is neither 0 nor 1", r->fname, key, v);
			*out = json_boolean(v);
			break;
		case GT_F32: case GT_F64: {
			double d;
			if (type == GT_F32) {
				uint32_t u = (uint32_t)v;
				float f;
				memcpy(&f, &u, 4);
				d = f;
			} else {
				memcpy(&d, &v, 8);
			}
			/* JSON has no NaN or infinity */
			*out = isfinite(d) ? json_real(d) : json_null();
			break;
		}
		}
	} else {
		return tfs_error_set(r->err, -EINVAL, "%s: key '%s': unknown value type %u", r->fname,
				     key, type);
	}
	if (!*out)
		return tfs_error_set(r->err, -ENOMEM, "%s: out of memory", r->fname);
	return 0;
}

/* ---- the header ---------------------------------------------------------------------------------- */

static int cmp_offset(const void *a, const void *b)
{
	const struct tfs_fmt_tensor *x = a, *y = b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->length < y->length ? -1 : x->length > y->length;
}

static int cmp_name_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_tensor(struct rd *r, uint64_t idx, struct tfs_fmt_tensor *t, uint32_t *type,
		       uint64_t *rel)
{
	char what[48];
	uint64_t len;
	uint32_t nd;
	int rc;

	snprintf(what, sizeof(what), "tensor info %" PRIu64, idx);
	if ((rc = rd_str(r, &t->name, &len, what)) < 0)
		return rc;
	if (len == 0)
		return tfs_error_set(r->err, -EINVAL, "%s: tensor %" PRIu64 " has an empty name",
				     r->fname, idx);
	if (len > TFS_GGUF_MAX_NAME || strlen(t->name) != len)
		return tfs_error_set(r->err, -EINVAL, "%s: tensor %" PRIu64 ": name of %" PRIu64 " bytes "
				     "is longer than %d or holds a NUL", r->fname, idx, len,
				     TFS_GGUF_MAX_NAME);
	if ((rc = rd_u32(r, &nd, what)) < 0)
		return rc;
	if (nd > TFS_GGUF_MAX_DIMS)
		return tfs_error_set(r->err, -EINVAL, "%s: tensor '%s' has %u dimensions (at most %d)",
				     r->fname, t->name, nd, TFS_GGUF_MAX_DIMS);
	t->ndim = nd;
	t->shape = calloc(nd ? nd : 1, sizeof(uint64_t));
	if (!t->shape)
		return tfs_error_set(r->err, -ENOMEM, "%s: out of memory", r->fname);
	for (uint32_t i = 0; i < nd; i++) {
		uint64_t d;
		if ((rc = rd_le(r, 8, &d, what)) < 0)
			return rc;
		if (d > INT64_MAX)
			return tfs_error_set(r->err, -EINVAL, "%s: tensor '%s': dimension %u is %" PRIu64
					     " (above INT64_MAX)", r->fname, t->name, i, d);
		t->shape[nd - 1 - i] = d;   /* GGUF lists dims fastest first; numpy slowest first */
	}
	if ((rc = rd_u32(r, type, what)) < 0 || (rc = rd_le(r, 8, rel, what)) < 0)
		return rc;
	if (tfs_gguf_dtype(*type, &t->dtype) < 0)
		return tfs_error_set(r->err, -EINVAL, "%s: tensor '%s' has unknown ggml type %u",
				     r->fname, t->name, *type);
	rc = tfs_gguf_nbytes(t->dtype, t->ndim, t->shape, &t->length);
	if (rc == -EOVERFLOW)
		return tfs_error_set(r->err, -EINVAL, "%s: tensor '%s': shape overflows 64 bits",
				     r->fname, t->name);
	if (rc < 0) {
		uint32_t be = 1, bb = 0;
		tfs_dtype_block(t->dtype, &be, &bb);
		return tfs_error_set(r->err, -EINVAL, "%s: tensor '%s': %s needs the first dimension "
				     "to be a multiple of %u, it is %" PRIu64, r->fname, t->name,
				     tfs_dtype_name(t->dtype), be, nd ? t->shape[nd - 1] : 1);
	}
	return 0;
}

/* Puts the metadata into h: keys, values (strings as is, the rest as JSON text), and meta_json. */
static int fill_meta(struct rd *r, json_t *meta, char **keys, struct tfs_fmt_header *h)
{
	for (size_t i = 0; i < h->n_meta; i++) {
		json_t *v = json_object_get(meta, keys[i]);

		h->meta_keys[i] = keys[i];
		keys[i] = NULL;
		h->meta_vals[i] = json_is_string(v) ? strdup(json_string_value(v))
						    : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!h->meta_vals[i])
			return tfs_error_set(r->err, -ENOMEM, "%s: out of memory", r->fname);
	}
	h->meta_json = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!h->meta_json)
		return tfs_error_set(r->err, -ENOMEM, "%s: out of memory", r->fname);
	return 0;
}

static int gguf_parse(struct tfs_source *src, struct tfs_fmt_header *out, struct tfs_error *err)
{
	struct rd r = { .src = src, .fname = src->path, .err = err, .size = src->info.size,
			.values_left = TFS_GGUF_MAX_VALUES };
	struct tfs_fmt_header h = { 0 };
	uint64_t n_tensors, n_kv, align = TFS_GGUF_DEFAULT_ALIGNMENT, info_end;
	uint64_t *rel = NULL;
	char **keys = NULL, **names = NULL;
	json_t *meta = NULL;
	uint32_t magic, version;
	int rc;

	r.buf_cap = r.size < RD_CHUNK ? (size_t)r.size : RD_CHUNK;
	r.buf = malloc(r.buf_cap ? r.buf_cap : 1);
	meta = json_object();
	if (!r.buf || !meta) {
		rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", r.fname);
		goto fail;
	}
	if ((rc = rd_u32(&r, &magic, "GGUF magic")) < 0)
		goto fail;
	if (magic != TFS_GGUF_MAGIC) {
		rc = tfs_error_set(err, -EINVAL, "%s: bad GGUF magic 0x%08x", r.fname, magic);
		goto fail;
	}
	if ((rc = rd_u32(&r, &version, "GGUF version")) < 0)
		goto fail;
	if (version != 2 && version != 3) {
		/* a big-endian v2/v3 file reads as 0x02000000 / 0x03000000 here */
		if (version == 0x02000000u || version == 0x03000000u)
			rc = tfs_error_set(err, -EINVAL, "%s: big-endian GGUF is not supported", r.fname);
		else
			rc = tfs_error_set(err, -EINVAL, "%s: GGUF version %u is not supported (2 and 3 "
					   "are)", r.fname, version);
		goto fail;
	}
	if ((rc = rd_le(&r, 8, &n_tensors, "tensor count")) < 0 ||
	    (rc = rd_le(&r, 8, &n_kv, "key/value count")) < 0)
		goto fail;
	/* each key/value is at least 13 bytes (length, type, one byte); each tensor info 24 */
	if (n_kv > (r.size - r.pos) / 13 || n_tensors > (r.size - r.pos) / 24) {
		rc = tfs_error_set(err, -EINVAL, "%s: %" PRIu64 " key/values and %" PRIu64 " tensors "
				   "cannot fit in the file (%" PRIu64 " bytes)", r.fname, n_kv,
				   n_tensors, r.size);
		goto fail;
	}
	keys = calloc(n_kv ? n_kv : 1, sizeof(char *));
	h.meta_keys = calloc(n_kv ? n_kv : 1, sizeof(char *));
	h.meta_vals = calloc(n_kv ? n_kv : 1, sizeof(char *));
	if (!keys || !h.meta_keys || !h.meta_vals) {
		rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", r.fname);
		goto fail;
	}
	for (uint64_t i = 0; i < n_kv; i++) {
		uint32_t type;
		json_t *v;

		uint64_t klen;

		if ((rc = rd_str(&r, &keys[i], &klen, "key")) < 0)
			goto fail;
		if (klen == 0 || strlen(keys[i]) != klen || json_object_get(meta, keys[i])) {
			rc = tfs_error_set(err, -EINVAL, "%s: key %" PRIu64 " ('%s') is %s", r.fname, i,
					   keys[i], klen == 0 ? "empty" : strlen(keys[i]) != klen ?
					   "cut by a NUL byte" : "a duplicate");
			goto fail;
		}
		if ((rc = rd_u32(&r, &type, keys[i])) < 0 ||
		    (rc = read_value(&r, type, 0, keys[i], &v)) < 0)
			goto fail;
		if (json_object_set_new(meta, keys[i], v) < 0) {
			rc = tfs_error_set(err, -EINVAL, "%s: key %" PRIu64 " is not UTF-8", r.fname, i);
			goto fail;
		}
		if (strcmp(keys[i], "general.alignment") == 0) {
			if (type != GT_U32 || json_integer_value(v) == 0 ||
			    (json_integer_value(v) & (json_integer_value(v) - 1))) {
				rc = tfs_error_set(err, -EINVAL, "%s: general.alignment must be a uint32 "
						   "power of two", r.fname);
				goto fail;
			}
			align = (uint64_t)json_integer_value(v);
		}
	}
	h.n_meta = (size_t)n_kv;
	h.t = calloc(n_tensors ? n_tensors : 1, sizeof(*h.t));
	rel = calloc(n_tensors ? n_tensors : 1, sizeof(*rel));
	names = calloc(n_tensors ? n_tensors : 1, sizeof(char *));
	if (!h.t || !rel || !names) {
		rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", r.fname);
		goto fail;
	}
	for (uint64_t i = 0; i < n_tensors; i++) {
		uint32_t type;

		h.n++;
		if ((rc = read_tensor(&r, i, &h.t[i], &type, &rel[i])) < 0)
			goto fail;
		if (rel[i] % align) {
			rc = tfs_error_set(err, -EINVAL, "%s: tensor '%s': offset %" PRIu64 " is not a "
					   "multiple of the alignment %" PRIu64, r.fname, h.t[i].name,
					   rel[i], align);
			goto fail;
		}
	}
	info_end = r.pos;
	h.data_start = (info_end + align - 1) / align * align;
	if (h.data_start > r.size) {
		if (n_tensors) {
			rc = tfs_error_set(err, -EINVAL, "%s: the data section (at byte %" PRIu64 ") starts "
					   "past the end of the file (%" PRIu64 " bytes)", r.fname,
					   h.data_start, r.size);
			goto fail;
		}
		h.data_start = r.size;   /* no tensors: the padding may be left out */
	}
	for (size_t i = 0; i < h.n; i++) {
		struct tfs_fmt_tensor *t = &h.t[i];

		if (rel[i] > r.size - h.data_start || t->length > r.size - h.data_start - rel[i]) {
			rc = tfs_error_set(err, -EINVAL, "%s: tensor '%s': %" PRIu64 " bytes at data offset "
					   "%" PRIu64 " run past the end of the file (%" PRIu64 " bytes)",
					   r.fname, t->name, t->length, rel[i], r.size);
			goto fail;
		}
		t->offset = h.data_start + rel[i];
		names[i] = t->name;
	}
	qsort(names, h.n, sizeof(*names), cmp_name_ptr);
	for (size_t i = 1; i < h.n; i++) {
		if (strcmp(names[i - 1], names[i]) == 0) {
			rc = tfs_error_set(err, -EINVAL, "%s: duplicate tensor name '%s'", r.fname, names[i]);
			goto fail;
		}
	}
	qsort(h.t, h.n, sizeof(*h.t), cmp_offset);
	for (size_t i = 1; i < h.n; i++) {
		if (h.t[i].offset < h.t[i - 1].offset + h.t[i - 1].length) {
			rc = tfs_error_set(err, -EINVAL, "%s: tensor '%s' overlaps tensor '%s'", r.fname,
					   h.t[i].name, h.t[i - 1].name);
			goto fail;
		}
	}
	if ((rc = fill_meta(&r, meta, keys, &h)) < 0)
		goto fail;
	*out = h;
	rc = 0;
	goto out;
fail:
	tfs_fmt_header_free(&h);
out:
	for (uint64_t i = 0; keys && i < n_kv; i++)
		free(keys[i]);
	free(keys);
	free(names);
	free(rel);
	json_decref(meta);
	free(r.buf);
	return rc;
}

static int gguf_probe(const unsigned char *head, size_t n, uint64_t size)
{
	return n >= 4 && memcmp(head, "GGUF", 4) == 0;
}

const struct tfs_format tfs_format_gguf = {
	.name = "gguf",
	.suffix = ".gguf",
	.probe = gguf_probe,
	.parse = gguf_parse,
	.dtype_name = tfs_dtype_name,   /* gguf-py's spelling: F32, BF16, Q4_K, IQ4_XS */
};
