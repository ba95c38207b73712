/*
 * gguf_split.c - GGUF split sets (llama.cpp's gguf-split): a model cut into files named
 * PREFIX-00001-of-0000N.gguf .. PREFIX-0000N-of-0000N.gguf, each a whole GGUF file whose split.no
 * (uint16, from 0), split.count (uint16) and, in the first, split.tensors.count (int32) say how
 * they fit. Opening the first file of a set opens the set; every file must agree on the count,
 * carry its own number, and the tensors must add up. Headers only, like every layout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "error.h"

/* The JSON-text value of `key` in a parsed file's metadata as an integer: 0, or -ENOENT when the
 * key is absent, -EINVAL when it is not a non-negative integer. */
static int meta_uint(const struct tfs_cat_file *f, const char *key, uint64_t *out)
{
	for (size_t i = 0; i < f->hdr.n_meta; i++) {
		char *end;

		if (strcmp(f->hdr.meta_keys[i], key) != 0)
			continue;
		if (f->hdr.meta_vals[i][0] < '0' || f->hdr.meta_vals[i][0] > '9')
			return -EINVAL;
		*out = strtoull(f->hdr.meta_vals[i], &end, 10);
		return *end ? -EINVAL : 0;
	}
	return -ENOENT;
}

/* "PREFIX-00001-of-00003.gguf" -> prefix length, no 1, count 3; -EINVAL when it is not so named. */
static int parse_split_name(const char *rel, size_t *prefix, unsigned *no, unsigned *count)
{
	size_t len = strlen(rel);
	const char *tail;
	int used = 0;

	if (len < 20)
		return -EINVAL;
	tail = rel + len - 20;   /* "-NNNNN-of-MMMMM.gguf" */
	if (sscanf(tail, "-%5u-of-%5u.gguf%n", no, count, &used) != 2 || used != 20 ||
	    tail[1] < '0' || tail[10] < '0')
		return -EINVAL;
	*prefix = len - 20;
	return 0;
}

int tfs_layout_gguf_split(struct tfs_catalog *cat, struct tfs_error *err)
{
	struct tfs_cat_file *first = &cat->files[0];
	uint64_t count, no, total, want_total;
	unsigned name_no, name_count;
	size_t prefix;
	int rc;

	rc = meta_uint(first, "split.count", &count);
	if (rc == -ENOENT)
		return 0;                                   /* one plain file */
	if (rc < 0 || meta_uint(first, "split.no", &no) < 0)
		return tfs_error_set(err, -EINVAL, "%s: split.count or split.no is not a number",
				     first->pub.path);
	if (count <= 1 && no == 0)
		return 0;                                   /* a set of one */
	if (parse_split_name(first->pub.rel, &prefix, &name_no, &name_count) < 0 ||
	    name_count != count || name_no != 1 || no != 0)
		return tfs_error_set(err, -EINVAL, "%s: part %" PRIu64 " of a %" PRIu64 "-file GGUF split "
				     "set: open the first file, named PREFIX-00001-of-%05" PRIu64 ".gguf",
				     first->pub.path, no + 1, count, count);
	if (count > 99999)
		return tfs_error_set(err, -EINVAL, "%s: split.count %" PRIu64 " is above 99999",
				     first->pub.path, count);
	total = first->hdr.n;
	for (uint64_t k = 1; k < count; k++) {
		char rel[4096];
		struct tfs_cat_file *f;
		uint64_t c2, no2;
		int fi;

		if (prefix + 21 > 4096)
			return tfs_error_set(err, -ENAMETOOLONG, "%s: name too long", first->pub.path);
		snprintf(rel, sizeof(rel), "%.*s-%05" PRIu64 "-of-%05" PRIu64 ".gguf", (int)prefix,
			 cat->files[0].pub.rel, k + 1, count);
		fi = tfs_catalog_add_file(cat, rel, err);
		if (fi < 0)
			return fi;
		rc = tfs_catalog_load_shard(cat, fi, "", err);
		if (rc < 0)
			return rc;
		f = &cat->files[fi];
		if (f->fmt != first->fmt)
			return tfs_error_set(err, -EINVAL, "%s: part of a GGUF split set but not GGUF",
					     f->pub.path);
		if (meta_uint(f, "split.count", &c2) < 0 || meta_uint(f, "split.no", &no2) < 0 ||
		    c2 != count || no2 != k)
			return tfs_error_set(err, -EINVAL, "%s: split.no/split.count are not %" PRIu64
					     "/%" PRIu64 " as its name says", f->pub.path, k, count);
		total += f->hdr.n;
	}
	rc = meta_uint(first, "split.tensors.count", &want_total);
	if (rc == 0 && want_total != total)
		return tfs_error_set(err, -EINVAL, "%s: split.tensors.count is %" PRIu64 " but the %"
				     PRIu64 " files hold %" PRIu64 " tensors", first->pub.path,
				     want_total, count, total);
	cat->layout = "gguf-split";
	return 0;
}
