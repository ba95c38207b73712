/*
 * catalog.c - opens a checkpoint and builds the one table everything else works from: the files of
 * the checkpoint folder and every tensor (name, dtype, shape, file, offset, length), sorted in disk
 * order. Knows the layouts (single file, sharded with an index, diffusers folder, GGUF file or
 * split set, and each behind a URL); file
 * headers are parsed by whichever format the format table (format/format.c) picks, and the
 * index/model_index parsing lives in hf_folders.c. Opening reads headers only, through the byte
 * source (io/source.h).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog_int.h"
#include "error.h"
#include "grow.h"

const char *tfs_catalog_layout(const struct tfs_catalog *cat) { return cat->layout; }
const char *tfs_catalog_root(const struct tfs_catalog *cat) { return cat->root; }
size_t tfs_catalog_tensor_count(const struct tfs_catalog *cat) { return cat->n_tensors; }
size_t tfs_catalog_file_count(const struct tfs_catalog *cat) { return cat->n_files; }
uint64_t tfs_catalog_tensor_bytes(const struct tfs_catalog *cat) { return cat->tensor_bytes; }
const char *tfs_catalog_warnings(const struct tfs_catalog *cat) { return cat->warnings ? cat->warnings : ""; }

const struct tfs_tensor *tfs_catalog_tensor(const struct tfs_catalog *cat, size_t i)
{
	return i < cat->n_tensors ? &cat->tensors[i] : NULL;
}

const struct tfs_file *tfs_catalog_file(const struct tfs_catalog *cat, size_t i)
{
	return i < cat->n_files ? &cat->files[i].pub : NULL;
}

void tfs_catalog_warn(struct tfs_catalog *cat, const char *fmt, ...)
{
	char line[TFS_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A lost warning (out of memory) is better than a failed open. */
	(void)tfs_text_add_line(&cat->warnings, &cat->len_warnings, &cat->cap_warnings, line);
}

char *tfs_path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p;

	if (la == 0)
		return strdup(b);
	if (lb == 0)
		return strdup(a);
	p = malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

int tfs_catalog_find_file(const struct tfs_catalog *cat, const char *rel)
{
	for (size_t i = 0; i < cat->n_files; i++)
		if (strcmp(cat->files[i].pub.rel, rel) == 0)
			return (int)i;
	return -1;
}

/* tfs_catalog_add_file with the path given (owned here from the call on), for a URL whose query
 * (a presigned signature) is not part of the name. */
static int add_file_at(struct tfs_catalog *cat, const char *rel, char *path, struct tfs_error *err)
{
	struct tfs_source_info info;
	struct tfs_cat_file *f;
	int rc;

	rc = tfs_source_stat(path, &info, err);
	if (rc < 0) {
		free(path);
		return rc;
	}
	if (TFS_GROW(cat, files, cap_files, cat->n_files + 1, 16) < 0) {
		free(path);
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", rel);
	}
	f = &cat->files[cat->n_files];
	memset(f, 0, sizeof(*f));
	f->pub.path = path;
	f->pub.rel = strdup(rel);
	if (!f->pub.rel) {
		free(path);
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", rel);
	}
	f->pub.size = info.size;
	f->pub.mtime_ns = info.mtime_ns;
	f->pub.dev = info.dev;
	f->pub.ino = info.ino;
	f->pub.mode = info.mode;
	return (int)cat->n_files++;
}

/* Appends a file entry (stat()ed now through the byte source, following symlinks as HF caches use
 * them) and returns its index. rel is relative to the root. */
int tfs_catalog_add_file(struct tfs_catalog *cat, const char *rel, struct tfs_error *err)
{
	char *path = tfs_path_join(cat->root, rel);

	if (!path)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", rel);
	return add_file_at(cat, rel, path, err);
}

/* The source's view of a catalog file, as stat()ed by tfs_catalog_add_file. */
static struct tfs_source_info info_of(const struct tfs_file *f)
{
	struct tfs_source_info i = { f->size, f->mtime_ns, f->dev, f->ino, f->mode };

	return i;
}

/* Parses the header of file `fi` (in whichever format claims it) and appends its tensors under
 * `component`. */
int tfs_catalog_load_shard(struct tfs_catalog *cat, int fi, const char *component,
			   struct tfs_error *err)
{
	struct tfs_cat_file *f = &cat->files[fi];
	struct tfs_source_info want = info_of(&f->pub);
	const struct tfs_format *fmt;
	struct tfs_source *src;
	int rc;

	if (f->pub.is_shard)
		return 0;
	rc = tfs_source_open(f->pub.path, &want, &src, err);
	if (rc < 0)
		return rc;
	rc = tfs_format_detect(src, &fmt, err);
	if (rc == 0)
		rc = fmt->parse(src, &f->hdr, err);
	tfs_source_close(src);
	if (rc < 0)
		return rc;
	f->pub.is_shard = 1;
	f->fmt = fmt;
	f->pub.data_start = f->hdr.data_start;
	f->pub.n_meta = f->hdr.n_meta;
	f->pub.meta_keys = (const char *const *)f->hdr.meta_keys;
	f->pub.meta_vals = (const char *const *)f->hdr.meta_vals;
	f->component = strdup(component);
	if (!f->component)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", f->pub.path);
	cat->n_shard_tensors += f->hdr.n;
	return 0;
}

static int cmp_rel(const void *a, const void *b)
{
	const struct tfs_cat_file *x = a, *y = b;

	return strcmp(x->pub.rel, y->pub.rel);
}

/*
 * The walk over the folder's other files follows symlinks (HF caches are trees of links) but must
 * stay finite and show each file once: a link to a folder inside the checkpoint ("." , "..", a
 * sibling) is skipped, since that folder is listed at its real path; a link to a folder outside is
 * followed once. Before, k links to "." made the walk k^8 listings: a hostile folder hung the open.
 */
struct walk {
	char *real_root;          /* realpath of the checkpoint folder */
	uint64_t (*seen)[2];      /* (dev, ino) of folders outside it, already listed */
	size_t n, cap;
};

/* 1 if the folder behind the link `path` (stat `st`) must not be listed; 0 if it may; -ENOMEM. */
static int walk_skip_link(struct walk *w, const char *path, const struct stat *st)
{
	char *real = realpath(path, NULL);
	size_t lr = strlen(w->real_root);
	int inside;

	if (!real)
		return 1;
	inside = strncmp(real, w->real_root, lr) == 0 && (real[lr] == '/' || real[lr] == '\0' ||
							  (lr == 1 && w->real_root[0] == '/'));
	free(real);
	if (inside)
		return 1;
	for (size_t i = 0; i < w->n; i++)
		if (w->seen[i][0] == (uint64_t)st->st_dev && w->seen[i][1] == (uint64_t)st->st_ino)
			return 1;
	if (TFS_GROW(w, seen, cap, w->n + 1, 16) < 0)
		return -ENOMEM;
	w->seen[w->n][0] = (uint64_t)st->st_dev;
	w->seen[w->n][1] = (uint64_t)st->st_ino;
	w->n++;
	return 0;
}

/* Adds every regular file under root/dir that is not yet listed, skipping dot-files. Symlinks are
 * followed as `struct walk` says, and a depth cap holds. */
static int add_other_files(struct tfs_catalog *cat, const char *dir, int depth,
			   struct walk *w, struct tfs_error *err)
{
	char *abs = tfs_path_join(cat->root, dir);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (!abs)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", dir);
	d = opendir(abs);
	if (!d && depth > 0 && (errno == EACCES || errno == EPERM)) {
		/* A subfolder the user may not read (a 0700 lost+found): not part of the checkpoint,
		 * whose own files were found already. */
		tfs_catalog_warn(cat, "%s: skipped: cannot list it: %s", dir, strerror(errno));
		free(abs);
		return 0;
	}
	if (!d) {
		rc = tfs_error_set(err, -errno, "%s: cannot list: %s", abs, strerror(errno));
		free(abs);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		char *rel, *path;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		rel = tfs_path_join(dir, de->d_name);
		path = rel ? tfs_path_join(cat->root, rel) : NULL;
		if (!path) {
			free(rel);
			rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", abs);
			break;
		}
		if (stat(path, &st) == 0) {
			struct stat lst;
			int skip = S_ISDIR(st.st_mode) && depth < 8 && lstat(path, &lst) == 0 &&
				   S_ISLNK(lst.st_mode) ? walk_skip_link(w, path, &st) : 0;
			if (skip < 0)
				rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", abs);
			else if (skip)
				tfs_catalog_warn(cat, "%s: skipped: a link to a folder listed elsewhere", rel);
			else if (S_ISDIR(st.st_mode) && depth < 8)
				rc = add_other_files(cat, rel, depth + 1, w, err);
			else if (S_ISREG(st.st_mode) && tfs_catalog_find_file(cat, rel) < 0 &&
				 access(path, R_OK) != 0) /* shown, it would only ever give EACCES */
				tfs_catalog_warn(cat, "%s: skipped: cannot read it: %s", rel,
						 strerror(errno));
			else if (S_ISREG(st.st_mode) && tfs_catalog_find_file(cat, rel) < 0)
				rc = tfs_catalog_add_file(cat, rel, err);
			rc = rc < 0 ? rc : 0;
		}
		free(rel);
		free(path);
		if (rc < 0)
			break;
	}
	closedir(d);
	free(abs);
	return rc;
}

static int cmp_key(const void *a, const void *b, void *arg)
{
	const struct tfs_tensor *t = arg;

	return strcmp(t[*(const uint32_t *)a].key, t[*(const uint32_t *)b].key);
}

/* Builds the tensor table from the parsed shards: disk order, plus a key index for lookups. */
static int build_tensors(struct tfs_catalog *cat, struct tfs_error *err)
{
	size_t n = 0;

	cat->tensors = calloc(cat->n_shard_tensors + 1, sizeof(*cat->tensors));
	cat->by_key = calloc(cat->n_shard_tensors + 1, sizeof(*cat->by_key));
	if (!cat->tensors || !cat->by_key)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", cat->root);
	for (size_t fi = 0; fi < cat->n_files; fi++) {
		struct tfs_cat_file *f = &cat->files[fi];
		for (size_t i = 0; f->pub.is_shard && i < f->hdr.n; i++) {
			struct tfs_fmt_tensor *s = &f->hdr.t[i];
			struct tfs_tensor *t = &cat->tensors[n];
			t->name = s->name;
			t->component = f->component;
			t->key = f->component[0] ? tfs_path_join(f->component, s->name) : s->name;
			if (!t->key)
				return tfs_error_set(err, -ENOMEM, "%s: out of memory", cat->root);
			t->dtype = s->dtype;
			t->ndim = s->ndim;
			t->shape = s->shape;
			t->file = (uint32_t)fi;
			t->offset = s->offset;
			t->length = s->length;
			cat->tensor_bytes += t->length;
			cat->by_key[n] = (uint32_t)n;
			n++;
		}
	}
	cat->n_tensors = n;
	qsort_r(cat->by_key, n, sizeof(*cat->by_key), cmp_key, cat->tensors);
	for (size_t i = 1; i < n; i++) {
		const struct tfs_tensor *a = &cat->tensors[cat->by_key[i - 1]];
		const struct tfs_tensor *b = &cat->tensors[cat->by_key[i]];
		if (strcmp(a->key, b->key) == 0)
			return tfs_error_set(err, -EINVAL, "%s: tensor '%s' appears in both %s and %s",
					     cat->root, a->key, cat->files[a->file].pub.rel,
					     cat->files[b->file].pub.rel);
	}
	return 0;
}

const struct tfs_tensor *tfs_catalog_find(const struct tfs_catalog *cat, const char *key)
{
	size_t lo = 0, hi = cat->n_tensors;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct tfs_tensor *t = &cat->tensors[cat->by_key[mid]];
		int c = strcmp(key, t->key);
		if (c == 0)
			return t;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * A URL: a folder when its path ends in '/' (the layout is found by fetching known names; see
 * hf_folders.c), else one file. A query (presigned URLs) stays on the file's path, not its name.
 */
static int open_url(struct tfs_catalog *cat, const char *url, struct tfs_error *err)
{
	size_t q = strcspn(url, "?#"), scheme = strstr(url, "://") - url + 3;
	const char *slash = memrchr(url + scheme, '/', q - scheme);
	char *rel, *path;
	int rc;

	if (!slash)
		return tfs_error_set(err, -EINVAL, "%s: a URL names a file or a folder ending in '/'",
				     url);
	cat->root = strndup(url, (size_t)(slash - url));
	if (!cat->root)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", url);
	if (slash == url + q - 1) /* ".../": a folder; shards first, then the named files */
		return tfs_layout_load_folder(cat, err);
	rel = strndup(slash + 1, (size_t)(url + q - slash - 1));
	path = strdup(url);
	if (!rel || !path) {
		free(rel);
		free(path);
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", url);
	}
	rc = add_file_at(cat, rel, path, err);
	free(rel);
	if (rc >= 0)
		rc = tfs_catalog_load_shard(cat, rc, "", err);
	if (rc >= 0)
		cat->layout = cat->files[0].fmt->name;
	if (rc >= 0 && cat->files[0].fmt == &tfs_format_gguf) /* its split siblings, by name */
		rc = tfs_layout_gguf_split(cat, err);
	return rc < 0 ? rc : 0;
}

/*
 * The metadata of every parsed file as one JSON object keyed by its relative path: a format's own
 * typed JSON (GGUF) where it has one, else its string map (safetensors' __metadata__).
 */
static int build_meta_json(struct tfs_catalog *cat, struct tfs_error *err)
{
	json_t *all = json_object();
	int rc = -ENOMEM;

	if (!all)
		goto fail;
	for (size_t fi = 0; fi < cat->n_files; fi++) {
		const struct tfs_cat_file *f = &cat->files[fi];
		json_t *m;

		if (!f->pub.is_shard)
			continue;
		if (f->hdr.meta_json) {
			m = json_loads(f->hdr.meta_json, JSON_ALLOW_NUL, NULL);
		} else {
			m = json_object();
			for (size_t i = 0; m && i < f->hdr.n_meta; i++)
				if (json_object_set_new(m, f->hdr.meta_keys[i],
							json_string(f->hdr.meta_vals[i])) < 0) {
					json_decref(m);
					m = NULL;
				}
		}
		if (!m)
			goto fail;
		rc = 0;
		if (json_object_set(all, f->pub.rel, m) < 0) {
			/* a file name that is not UTF-8: its other bytes as '?' (JSON holds text) */
			char *k = strdup(f->pub.rel);
			for (char *c = k; c && *c; c++)
				if ((unsigned char)*c >= 0x80)
					*c = '?';
			rc = k && json_object_set(all, k, m) == 0 ? 0 : -ENOMEM;
			free(k);
		}
		json_decref(m);
		if (rc < 0)
			goto fail;
		rc = -ENOMEM;
	}
	cat->meta_json = json_dumps(all, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!cat->meta_json)
		goto fail;
	json_decref(all);
	return 0;
fail:
	json_decref(all);
	return tfs_error_set(err, rc, "%s: out of memory building the metadata JSON", cat->root);
}

const char *tfs_catalog_metadata_json(const struct tfs_catalog *cat) { return cat->meta_json; }

int tfs_catalog_open(const char *path, struct tfs_catalog **out, struct tfs_error *err)
{
	struct tfs_catalog *cat = calloc(1, sizeof(*cat));
	struct tfs_source_info info;
	struct stat st;
	int rc;

	if (!cat)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", path);
	/* A URL is a file or, ending in '/', a folder (open_url). Otherwise a single file is whatever
	 * a byte source can stat; a folder is local. The source's error names what is missing. */
	if (tfs_source_is_url(path)) {
		rc = open_url(cat, path, err);
		goto opened;
	}
	rc = tfs_source_stat(path, &info, err);
	if (rc == 0) {
		/* A single file: the mount shows it and its tensors, nothing else of its folder. */
		const char *slash = strrchr(path, '/');
		cat->root = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
		rc = cat->root ? tfs_catalog_add_file(cat, slash ? slash + 1 : path, err)
			       : tfs_error_set(err, -ENOMEM, "%s: out of memory", path);
		if (rc >= 0)
			rc = tfs_catalog_load_shard(cat, rc, "", err);
		if (rc >= 0)
			cat->layout = cat->files[0].fmt->name; /* "safetensors", "gguf" */
		if (rc >= 0 && cat->files[0].fmt == &tfs_format_gguf)
			rc = tfs_layout_gguf_split(cat, err);
	} else if (rc == -EINVAL && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		cat->root = strdup(path);
		rc = cat->root ? tfs_layout_load_folder(cat, err)
			       : tfs_error_set(err, -ENOMEM, "%s: out of memory", path);
		if (rc >= 0) {
			/* Shards keep the order the layout gave them; the rest follow by name. */
			size_t first = cat->n_files;
			struct walk w = { realpath(path, NULL), NULL, 0, 0 };
			rc = w.real_root ? add_other_files(cat, "", 0, &w, err)
					 : tfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
			free(w.real_root);
			free(w.seen);
			if (rc >= 0)
				qsort(cat->files + first, cat->n_files - first, sizeof(*cat->files), cmp_rel);
		}
	} else if (rc == -EINVAL) {
		rc = tfs_error_set(err, -EINVAL, "%s: neither a file nor a folder", path);
	} /* else missing or unreadable: the source's message says so */
opened:
	if (rc < 0)
		goto fail;
	rc = build_tensors(cat, err);
	if (rc < 0)
		goto fail;
	rc = build_meta_json(cat, err);
	if (rc < 0)
		goto fail;
	*out = cat;
	return 0;
fail:
	tfs_catalog_close(cat);
	return rc;
}

void tfs_catalog_close(struct tfs_catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; cat->tensors && i < cat->n_tensors; i++)
		if (cat->tensors[i].key != cat->tensors[i].name)
			free((char *)cat->tensors[i].key);
	for (size_t i = 0; i < cat->n_files; i++) {
		free((char *)cat->files[i].pub.path);
		free((char *)cat->files[i].pub.rel);
		free(cat->files[i].component);
		tfs_fmt_header_free(&cat->files[i].hdr);
	}
	free(cat->files);
	free(cat->tensors);
	free(cat->by_key);
	free(cat->warnings);
	free(cat->meta_json);
	free(cat->root);
	free(cat);
}
