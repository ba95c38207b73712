/*
 * safetensors.c - the header parser under the catalog. A safetensors file is an 8-byte little-endian
 * length N, N bytes of JSON, then the data region. Every rule of docs/FORMATS.md is enforced
 * here, so nothing past this point needs to distrust a header: offsets tile the data region exactly
 * and each byte length matches its dtype and shape. Reads the header only, never tensor data.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "format/format.h"
#include "format/safetensors.h"

void tfs_st_free(struct tfs_st_header *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->t[i].name);
		free(h->t[i].shape);
	}
	for (size_t i = 0; i < h->n_meta; i++) {
		free(h->meta_keys[i]);
		free(h->meta_vals[i]);
	}
	free(h->t);
	free(h->meta_keys);
	free(h->meta_vals);
	memset(h, 0, sizeof(*h));
}

int tfs_st_nbytes(enum tfs_dtype dt, uint32_t ndim, const uint64_t *shape, uint64_t *out)
{
	uint64_t elems = 1, bits;

	for (uint32_t i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(elems, shape[i], &elems))
			return -EOVERFLOW;
	if (__builtin_mul_overflow(elems, (uint64_t)tfs_dtype_bits(dt), &bits))
		return -EOVERFLOW;
	if (bits % 8)
		return -EINVAL;
	*out = bits / 8;
	return 0;
}

/* A JSON integer that must be >= 0 (jansson's integers are signed 64-bit). */
static int get_u64(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_metadata(const char *fname, json_t *meta, struct tfs_st_header *h,
			  struct tfs_error *err)
{
	size_t n = json_object_size(meta);
	const char *k;
	json_t *v;

	if (!json_is_object(meta))
		return tfs_error_set(err, -EINVAL, "%s: __metadata__ is not an object", fname);
	h->meta_keys = calloc(n ? n : 1, sizeof(char *));
	h->meta_vals = calloc(n ? n : 1, sizeof(char *));
	if (!h->meta_keys || !h->meta_vals)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", fname);
	json_object_foreach(meta, k, v) {
		if (!json_is_string(v))
			return tfs_error_set(err, -EINVAL, "%s: __metadata__ value of '%s' is not a string",
					     fname, k);
		h->meta_keys[h->n_meta] = strdup(k);
		h->meta_vals[h->n_meta] = strdup(json_string_value(v));
		h->n_meta++;
		if (!h->meta_keys[h->n_meta - 1] || !h->meta_vals[h->n_meta - 1])
			return tfs_error_set(err, -ENOMEM, "%s: out of memory", fname);
	}
	return 0;
}

static int parse_tensor(const char *fname, const char *name, json_t *obj, struct tfs_st_tensor *t,
			struct tfs_error *err)
{
	json_t *dtype = json_object_get(obj, "dtype");
	json_t *shape = json_object_get(obj, "shape");
	json_t *offs = json_object_get(obj, "data_offsets");
	uint64_t nbytes;
	int rc;

	if (name[0] == '\0')
		return tfs_error_set(err, -EINVAL, "%s: a tensor has an empty name", fname);
	if (!json_is_object(obj))
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s' is not an object", fname, name);
	if (!json_is_string(dtype))
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s' has no dtype string", fname, name);
	if (tfs_dtype_parse(json_string_value(dtype), &t->dtype) < 0)
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s' has unknown dtype '%s'", fname,
				     name, json_string_value(dtype));
	if (!json_is_array(shape))
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s' has no shape array", fname, name);
	if (json_array_size(shape) > UINT32_MAX)
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s' has too many dimensions", fname, name);
	t->ndim = (uint32_t)json_array_size(shape);
	t->shape = calloc(t->ndim ? t->ndim : 1, sizeof(uint64_t));
	if (!t->shape)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", fname);
	for (uint32_t i = 0; i < t->ndim; i++)
		if (get_u64(json_array_get(shape, i), &t->shape[i]) < 0)
			return tfs_error_set(err, -EINVAL,
					     "%s: tensor '%s': shape[%u] is not a non-negative integer",
					     fname, name, i);
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    get_u64(json_array_get(offs, 0), &t->begin) < 0 ||
	    get_u64(json_array_get(offs, 1), &t->end) < 0)
		return tfs_error_set(err, -EINVAL,
				     "%s: tensor '%s': data_offsets is not [begin, end] of non-negative integers",
				     fname, name);
	if (t->end < t->begin)
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s': data_offsets end %" PRIu64
				     " is before begin %" PRIu64, fname, name, t->end, t->begin);
	rc = tfs_st_nbytes(t->dtype, t->ndim, t->shape, &nbytes);
	if (rc == -EOVERFLOW)
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s': shape overflows 64 bits", fname, name);
	if (rc < 0)
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s': %s shape is not a whole number of bytes",
				     fname, name, tfs_dtype_name(t->dtype));
	if (t->end - t->begin != nbytes)
		return tfs_error_set(err, -EINVAL, "%s: tensor '%s': data_offsets span %" PRIu64
				     " bytes but %s shape needs %" PRIu64, fname, name,
				     t->end - t->begin, tfs_dtype_name(t->dtype), nbytes);
	t->name = strdup(name);
	if (!t->name)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", fname);
	return 0;
}

static int cmp_begin(const void *a, const void *b)
{
	const struct tfs_st_tensor *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorted by offset, tensors must tile [0, data_len) with no gap and no overlap. */
static int check_tiling(const char *fname, const struct tfs_st_header *h, uint64_t data_len,
			struct tfs_error *err)
{
	uint64_t pos = 0;

	for (size_t i = 0; i < h->n; i++) {
		const struct tfs_st_tensor *t = &h->t[i];
		if (t->begin > pos)
			return tfs_error_set(err, -EINVAL, "%s: gap of %" PRIu64 " bytes before tensor '%s' "
					     "(offsets must cover the data region)", fname,
					     t->begin - pos, t->name);
		if (t->begin < pos)
			return tfs_error_set(err, -EINVAL, "%s: tensor '%s' overlaps the tensor before it",
					     fname, t->name);
		pos = t->end;
	}
	if (pos != data_len)
		return tfs_error_set(err, -EINVAL, "%s: tensors end at data offset %" PRIu64
				     " but the data region is %" PRIu64 " bytes", fname, pos, data_len);
	return 0;
}

int tfs_st_parse(const char *fname, const char *json, size_t len, uint64_t data_len,
		 struct tfs_st_header *out, struct tfs_error *err)
{
	struct tfs_st_header h = { 0 };
	json_error_t jerr;
	json_t *root;
	const char *k;
	json_t *v;
	int rc = 0;

	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return tfs_error_set(err, -EINVAL, "%s: header is not valid JSON: %s (at byte %d)", fname,
				     jerr.text, jerr.position);
	if (!json_is_object(root)) {
		rc = tfs_error_set(err, -EINVAL, "%s: header is not a JSON object", fname);
		goto fail;
	}
	h.t = calloc(json_object_size(root) + 1, sizeof(*h.t));
	if (!h.t) {
		rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", fname);
		goto fail;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "__metadata__") == 0) {
			rc = parse_metadata(fname, v, &h, err);
		} else {
			rc = parse_tensor(fname, k, v, &h.t[h.n], err);
			h.n++;
		}
		if (rc < 0)
			goto fail;
	}
	qsort(h.t, h.n, sizeof(*h.t), cmp_begin);
	rc = check_tiling(fname, &h, data_len, err);
	if (rc < 0)
		goto fail;
	json_decref(root);
	*out = h;
	return 0;
fail:
	json_decref(root);
	tfs_st_free(&h);
	return rc;
}

/* Exactly len bytes at off; -EIO when the file ends first. */
static int read_full(struct tfs_source *src, void *buf, size_t len, uint64_t off,
		     struct tfs_error *err)
{
	ssize_t n = tfs_source_read(src, buf, len, off, 0, err);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

int tfs_st_read(struct tfs_source *src, struct tfs_st_header *out, struct tfs_error *err)
{
	const char *fname = src->path;
	uint64_t file_size = src->info.size;
	unsigned char lenbuf[8];
	uint64_t n = 0;
	char *json;
	int rc;

	if (file_size < 8)
		return tfs_error_set(err, -EINVAL, "%s: %" PRIu64 " bytes is too small for a safetensors "
				     "header", fname, file_size);
	rc = read_full(src, lenbuf, 8, 0, NULL);
	if (rc < 0)
		return tfs_error_set(err, rc, "%s: cannot read header length: %s", fname, strerror(-rc));
	for (int i = 7; i >= 0; i--)
		n = n << 8 | lenbuf[i];
	if (n > TFS_ST_MAX_HEADER)
		return tfs_error_set(err, -EINVAL, "%s: header length %" PRIu64 " is above the %llu-byte cap",
				     fname, n, TFS_ST_MAX_HEADER);
	if (n > file_size - 8)
		return tfs_error_set(err, -EINVAL, "%s: header length %" PRIu64 " runs past the end of the "
				     "file (%" PRIu64 " bytes)", fname, n, file_size);
	json = malloc(n + 1);
	if (!json)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory for a %" PRIu64 "-byte header",
				     fname, n);
	rc = read_full(src, json, n, 8, NULL);
	if (rc < 0) {
		tfs_error_set(err, rc, "%s: cannot read header: %s", fname, strerror(-rc));
		goto out;
	}
	rc = tfs_st_parse(fname, json, n, file_size - 8 - n, out, err);
	if (rc == 0)
		out->data_start = 8 + n;
out:
	free(json);
	return rc;
}

/* An 8-byte length that fits the file, then a JSON object. */
static int st_probe(const unsigned char *head, size_t n, uint64_t size)
{
	uint64_t len = 0;

	if (n < 9 || size < 10)
		return 0;
	for (int i = 7; i >= 0; i--)
		len = len << 8 | head[i];
	return len >= 2 && len <= size - 8 && len <= TFS_ST_MAX_HEADER && head[8] == '{';
}

/* The header in the format-neutral shape: absolute offsets, names and shapes handed over. */
static int st_parse(struct tfs_source *src, struct tfs_fmt_header *out, struct tfs_error *err)
{
	struct tfs_st_header h = { 0 };
	struct tfs_fmt_header f = { 0 };
	int rc = tfs_st_read(src, &h, err);

	if (rc < 0)
		return rc;
	f.t = calloc(h.n + 1, sizeof(*f.t));
	if (!f.t) {
		tfs_st_free(&h);
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", src->path);
	}
	f.data_start = h.data_start;
	f.n = h.n;
	for (size_t i = 0; i < h.n; i++) {
		f.t[i].name = h.t[i].name;
		f.t[i].dtype = h.t[i].dtype;
		f.t[i].ndim = h.t[i].ndim;
		f.t[i].shape = h.t[i].shape;
		f.t[i].offset = h.data_start + h.t[i].begin;
		f.t[i].length = h.t[i].end - h.t[i].begin;
	}
	f.n_meta = h.n_meta;
	f.meta_keys = h.meta_keys;
	f.meta_vals = h.meta_vals;
	free(h.t); /* its names and shapes now belong to f, as do the metadata arrays */
	*out = f;
	return 0;
}

const struct tfs_format tfs_format_safetensors = {
	.name = "safetensors",
	.suffix = ".safetensors",
	.probe = st_probe,
	.parse = st_parse,
	.dtype_name = tfs_dtype_name,
};
