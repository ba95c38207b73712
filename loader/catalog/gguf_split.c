/*
 * gguf_split.c - GGUF split sets (llama.cpp's gguf-split): a model cut into files named
 * PREFIX-00001-of-0000N.gguf .. PREFIX-0000N-of-0000N.gguf, each a whole GGUF file whose split.no
 * (uint16, from 0), split.count (uint16) and, in the first, split.tensors.count (int32) say how
 * they fit. Opening the first file of a set opens the set; every file must agree on the count,
 * carry its own number, and the tensors must add up. Headers only, like every layout.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/catalog_int.h"
#include "error.h"
#include "grow.h"

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
		first = &cat->files[0]; /* adding may have moved the array */
		if (fi == -ENOENT) /* the source said "not found"; say what the file was for */
			return tfs_error_set(err, -ENOENT, "%s: missing: part %" PRIu64 " of the %" PRIu64
					     "-file GGUF split set %s", rel, k + 1, count, first->pub.path);
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

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The GGUF checkpoints of the local folder cat->root: each lone *.gguf, and each split set once,
 * named by its first part (PREFIX-00001-of-N.gguf, whether or not that part is there: opening it
 * then names what is missing). Sorted; caller frees each and the array.
 */
static int gguf_candidates(const char *root, char ***out, size_t *n_out, struct tfs_error *err)
{
	char **c = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(root);
	int rc = 0;

	if (!d)
		return tfs_error_set(err, -errno, "%s: cannot list: %s", root, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name), prefix;
		unsigned no, count;
		char name[512];
		struct stat st;
		int dup = 0;

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".gguf") != 0 ||
		    len >= sizeof(name) || fstatat(dirfd(d), de->d_name, &st, 0) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (parse_split_name(de->d_name, &prefix, &no, &count) == 0 && count > 1)
			snprintf(name, sizeof(name), "%.*s-00001-of-%05u.gguf", (int)prefix, de->d_name,
				 count);
		else
			memcpy(name, de->d_name, len + 1);
		for (size_t i = 0; i < n && !dup; i++)
			dup = strcmp(c[i], name) == 0;
		if (dup)
			continue;
		if (tfs_grow(&c, &cap, n + 1, sizeof(*c), 8) < 0 || !(c[n] = strdup(name))) {
			rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", root);
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(c, n, sizeof(*c), cmp_str);
	*out = c;
	*n_out = n;
	return rc;
}

int tfs_layout_gguf_folder(struct tfs_catalog *cat, int *found, struct tfs_error *err)
{
	char **c = NULL, list[1024] = "";
	size_t n = 0, used = 0;
	int rc, fi;

	*found = 0;
	rc = gguf_candidates(cat->root, &c, &n, err);
	if (rc < 0 || n == 0)
		goto out;
	*found = 1;
	if (n > 1) {
		for (size_t i = 0; i < n && used < sizeof(list); i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
						 c[i]);
		rc = tfs_error_set(err, -EINVAL, "%s: %zu GGUF checkpoints (%s): name the .gguf file "
				   "to open", cat->root, n, list);
		goto out;
	}
	fi = tfs_catalog_add_file(cat, c[0], err);
	rc = fi < 0 ? fi : tfs_catalog_load_shard(cat, fi, "", err);
	if (rc >= 0 && cat->files[fi].fmt != &tfs_format_gguf)
		rc = tfs_error_set(err, -EINVAL, "%s: not a GGUF file", cat->files[fi].pub.path);
	if (rc >= 0) {
		cat->layout = "gguf";
		rc = fi == 0 ? tfs_layout_gguf_split(cat, err)
			     : tfs_error_set(err, -EINVAL, "%s: GGUF beside other shards",
					     cat->files[fi].pub.path);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(c[i]);
	free(c);
	return rc < 0 ? rc : 0;
}
