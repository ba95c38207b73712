/*
 * select.c - which tensors a load takes, and to which device (the rules are in include/tensorfs.h,
 * "device placement"; this file is their one implementation).
 *
 * A selection is a list of globs plus an optional device map in the accelerate/diffusers JSON
 * form. The map is parsed with jansson and kept sorted by key, so placing a tensor is a binary
 * search per '.'- or '/'-boundary of its key, longest prefix first: O(depth * log(map size)),
 * instead of comparing every tensor with every map entry.
 */
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place/place.h"
#include "error.h"
#include "grow.h"

struct map_entry {
	char *key;
	size_t len;
	struct tfs_device dev;
};

struct tfs_selection {
	char **globs;
	size_t n_globs, cap_globs;
	struct map_entry *map;      /* sorted by key (strcmp); NULL without a map */
	size_t n_map;
	int has_map;                /* an empty map {} is a map: it loads nothing */
	char *origin;               /* file or label of the map, for messages */
};

int tfs_selection_new(struct tfs_selection **out, struct tfs_error *err)
{
	struct tfs_selection *sel = calloc(1, sizeof(*sel));

	if (!sel)
		return tfs_error_set(err, -ENOMEM, "selection: out of memory");
	*out = sel;
	return 0;
}

static void free_map(struct map_entry *map, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(map[i].key);
	free(map);
}

void tfs_selection_free(struct tfs_selection *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->n_globs; i++)
		free(sel->globs[i]);
	free(sel->globs);
	free_map(sel->map, sel->n_map);
	free(sel->origin);
	free(sel);
}

int tfs_selection_add_glob(struct tfs_selection *sel, const char *glob, struct tfs_error *err)
{
	char *copy;

	if (!glob || !*glob)
		return tfs_error_set(err, -EINVAL, "selection: empty glob");
	copy = strdup(glob);
	if (!copy || TFS_GROW(sel, globs, cap_globs, sel->n_globs + 1, 4) < 0) {
		free(copy);
		return tfs_error_set(err, -ENOMEM, "selection: out of memory");
	}
	sel->globs[sel->n_globs++] = copy;
	return 0;
}

int tfs_device_parse_raw(const char *s, struct tfs_device *out)
{
	const char *num = NULL;
	char *end;
	long v;

	if (strcmp(s, "cpu") == 0) {
		*out = (struct tfs_device){ TFS_DEVICE_CPU, 0 };
		return 0;
	}
	if (strcmp(s, "disk") == 0) {
		*out = (struct tfs_device){ TFS_DEVICE_DISK, 0 };
		return 0;
	}
	if (strcmp(s, "cuda") == 0) {
		*out = (struct tfs_device){ TFS_DEVICE_CUDA, 0 };
		return 0;
	}
	if (strncmp(s, "cuda:", 5) == 0)
		num = s + 5;
	else if ((*s >= '0' && *s <= '9') || *s == '-')
		num = s;
	/* strtol alone would accept " 1", "+1" and "1x"; a device index is plain digits. */
	if (!num || !*num || (*num != '-' && (*num < '0' || *num > '9')))
		return -EINVAL;
	errno = 0;
	v = strtol(num, &end, 10);
	if (*end || end == num || (*num == '-' && end == num + 1))
		return -EINVAL;
	if (v < 0 || v > INT_MAX || errno)
		return -ERANGE;
	*out = (struct tfs_device){ TFS_DEVICE_CUDA, (int)v };
	return 0;
}

int tfs_device_parse(const char *s, struct tfs_device *out, struct tfs_error *err)
{
	int rc = tfs_device_parse_raw(s ? s : "", out);

	if (rc == -ERANGE)
		return tfs_error_set(err, -EINVAL, "device \"%s\": GPU index must be 0..%d", s, INT_MAX);
	if (rc < 0)
		return tfs_error_set(err, -EINVAL,
				     "unknown device \"%s\" (expected cpu, cuda, cuda:N, N or disk)",
				     s ? s : "");
	return 0;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "?";
}

#define MAP_EXPECT "expected a GPU index, \"cuda:N\", \"cpu\" or \"disk\""

/* One map value -> device, or -EINVAL with a message naming origin and key. */
static int map_value(const char *origin, const char *key, const json_t *v, struct tfs_device *dev,
		     struct tfs_error *err)
{
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if (n < 0)
			return tfs_error_set(err, -EINVAL, "%s: \"%s\": negative GPU index %lld",
					     origin, key, (long long)n);
		if (n > INT_MAX)
			return tfs_error_set(err, -EINVAL, "%s: \"%s\": GPU index %lld is too large",
					     origin, key, (long long)n);
		*dev = (struct tfs_device){ TFS_DEVICE_CUDA, (int)n };
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		int rc = tfs_device_parse_raw(s, dev);

		if (rc == -ERANGE)
			return tfs_error_set(err, -EINVAL, "%s: \"%s\": bad GPU index in \"%s\" "
					     "(negative or too large)", origin, key, s);
		if (rc < 0)
			return tfs_error_set(err, -EINVAL, "%s: \"%s\": unknown device \"%s\" (" MAP_EXPECT
					     ")", origin, key, s);
		return 0;
	}
	return tfs_error_set(err, -EINVAL, "%s: \"%s\": bad device: %s (" MAP_EXPECT ")", origin, key,
			     json_type_name(v));
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct map_entry *)a)->key, ((const struct map_entry *)b)->key);
}

/* Takes ownership of root (a parsed document) and installs it as the map; sel unchanged on error. */
static int set_map(struct tfs_selection *sel, json_t *root, const char *origin,
		   struct tfs_error *err)
{
	struct map_entry *map = NULL;
	size_t n = 0;
	char *org = strdup(origin);
	const char *key;
	json_t *v;
	int rc;

	if (!org) {
		rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", origin);
		goto fail;
	}
	if (!json_is_object(root)) {
		rc = tfs_error_set(err, -EINVAL, "%s: a device map must be a JSON object of module name "
				   "-> device, not %s", origin, json_type_name(root));
		goto fail;
	}
	map = calloc(json_object_size(root) + 1, sizeof(*map));
	if (!map) {
		rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", origin);
		goto fail;
	}
	json_object_foreach(root, key, v) {
		struct tfs_device dev;

		rc = map_value(origin, key, v, &dev, err);
		if (rc < 0)
			goto fail;
		map[n].key = strdup(key);
		if (!map[n].key) {
			rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", origin);
			goto fail;
		}
		map[n].len = strlen(key);
		map[n++].dev = dev;
	}
	qsort(map, n, sizeof(*map), entry_cmp);
	free_map(sel->map, sel->n_map);
	free(sel->origin);
	sel->map = map;
	sel->n_map = n;
	sel->origin = org;
	sel->has_map = 1;
	json_decref(root);
	return 0;
fail:
	free_map(map, n);
	free(org);
	json_decref(root);
	return rc;
}

int tfs_selection_set_map_json(struct tfs_selection *sel, const char *json, const char *origin,
			       struct tfs_error *err)
{
	json_error_t jerr;
	json_t *root;

	if (!origin)
		origin = "device map";
	/* Duplicate keys would make "which device" depend on the parser: refuse them. */
	root = json_loads(json ? json : "", JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root)
		return tfs_error_set(err, -EINVAL, "%s: line %d column %d: %s", origin, jerr.line,
				     jerr.column, jerr.text);
	return set_map(sel, root, origin, err);
}

int tfs_selection_load_map(struct tfs_selection *sel, const char *path, struct tfs_error *err)
{
	json_error_t jerr;
	json_t *root;
	FILE *f = fopen(path, "r");

	/* fopen ourselves so an unreadable file reports its errno, which jansson would drop. */
	if (!f)
		return tfs_error_set(err, -errno, "%s: cannot open device map: %s", path,
				     strerror(errno));
	root = json_loadf(f, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	fclose(f);
	if (!root)
		return tfs_error_set(err, -EINVAL, "%s: line %d column %d: %s", path, jerr.line,
				     jerr.column, jerr.text);
	return set_map(sel, root, path, err);
}

/* Finds the map entry whose key is exactly s[0..len). */
static const struct map_entry *map_lookup(const struct tfs_selection *sel, const char *s,
					  size_t len)
{
	size_t lo = 0, hi = sel->n_map;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct map_entry *m = &sel->map[mid];
		int c = strncmp(m->key, s, len);

		/* Equal on the first len bytes: the shorter key sorts first. */
		if (c == 0)
			c = m->len > len ? 1 : m->len < len ? -1 : 0;
		if (c == 0)
			return m;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct map_entry *map_match(const struct tfs_selection *sel, const char *key)
{
	size_t len = strlen(key);
	const struct map_entry *m = map_lookup(sel, key, len);

	/* Longest first: the whole key, then each prefix ending before a '.' or '/', then "". */
	while (!m && len > 0) {
		do
			len--;
		while (len > 0 && key[len] != '.' && key[len] != '/');
		m = map_lookup(sel, key, len);
	}
	return m;
}

int tfs_selection_place(const struct tfs_selection *sel, const char *key, struct tfs_device dflt,
			struct tfs_device *out)
{
	const struct map_entry *m;
	int hit = 0;

	if (!sel) {
		*out = dflt;
		return 1;
	}
	for (size_t i = 0; i < sel->n_globs && !hit; i++)
		hit = fnmatch(sel->globs[i], key, 0) == 0;
	if (sel->n_globs && !hit)
		return 0;
	if (!sel->has_map) {
		*out = dflt;
		return 1;
	}
	m = map_match(sel, key);
	if (!m || m->dev.type == TFS_DEVICE_DISK)
		return 0;
	*out = m->dev;
	return 1;
}

size_t tfs_selection_map_count(const struct tfs_selection *sel)
{
	return sel ? sel->n_map : 0;
}

void tfs_selection_map_entry(const struct tfs_selection *sel, size_t i, const char **key,
			     struct tfs_device *dev)
{
	*key = sel->map[i].key;
	*dev = sel->map[i].dev;
}

const char *tfs_selection_map_origin(const struct tfs_selection *sel)
{
	return sel && sel->origin ? sel->origin : "";
}

int tfs_selection_has_map(const struct tfs_selection *sel)
{
	return sel && sel->has_map;
}
