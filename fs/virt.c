/*
 * virt.c - the virtual files under .tensorfs/: index.json (the catalog as JSON, built with jansson
 * on its first lookup or open and kept for the life of the mount, so mounting stays cheap) and stats
 * (live counters: the engine's plus the mount's own). metadata.json is the catalog's
 * tfs_catalog_metadata_json(), served by ops.c as it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "mount.h"

/*
 * A JSON string of s. File and folder names need not be UTF-8 (tensor names always are: the header
 * parser refuses anything else), and jansson refuses such strings: then '%' and every byte >= 0x80
 * is written as %XX, so one odd file name in the checkpoint folder cannot fail the mount.
 */
static json_t *jstr(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	json_t *v = json_string(s);
	char *e;
	size_t n = 0;

	if (v)
		return v;
	e = malloc(3 * strlen(s) + 1);
	if (!e)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '%' || *c >= 0x80) {
			e[n++] = '%';
			e[n++] = hex[*c >> 4];
			e[n++] = hex[*c & 15];
		} else {
			e[n++] = (char)*c;
		}
	}
	e[n] = '\0';
	v = json_string(e);
	free(e);
	return v;
}

static json_t *tensor_json(const struct tfs_mount *m, size_t i)
{
	const struct tfs_tensor *t = tfs_catalog_tensor(m->cat, i);
	json_t *o = json_object(), *shape = json_array();
	uint32_t node = tfs_tree_tensor_node(m->tree, i);
	char path[8192], *long_path = NULL;

	if (!o || !shape)
		goto fail;
	for (uint32_t d = 0; d < t->ndim; d++)
		if (json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) < 0)
			goto fail;
	/* Paths over 8 KiB (a name of many long components) get a buffer of their own: 128
	 * components of at most 255 bytes and their slashes fit in 64 KiB (tree.c caps the depth). */
	if (tfs_tree_path(m->tree, node, path, sizeof(path)) < 0) {
		long_path = malloc(64 * 1024);
		if (!long_path || tfs_tree_path(m->tree, node, long_path, 64 * 1024) < 0)
			goto fail;
	}
	if (json_object_set_new(o, "key", json_string(t->key)) < 0 ||
	    json_object_set_new(o, "name", json_string(t->name)) < 0 ||
	    json_object_set_new(o, "component", json_string(t->component)) < 0 ||
	    json_object_set_new(o, "dtype", json_string(tfs_dtype_name(t->dtype))) < 0 ||
	    json_object_set_new(o, "shape", shape) < 0 ||
	    json_object_set_new(o, "file", jstr(tfs_catalog_file(m->cat, t->file)->rel)) < 0 ||
	    json_object_set_new(o, "offset", json_integer((json_int_t)t->offset)) < 0 ||
	    json_object_set_new(o, "length", json_integer((json_int_t)t->length)) < 0 ||
	    json_object_set_new(o, "path", jstr(long_path ? long_path : path)) < 0) {
		free(long_path);
		json_decref(o);
		return NULL;
	}
	free(long_path);
	return o;
fail:
	free(long_path);
	json_decref(shape);
	json_decref(o);
	return NULL;
}

static json_t *file_json(const struct tfs_file *f)
{
	json_t *o = json_object(), *meta = json_object();

	if (!o || !meta)
		goto fail;
	for (size_t k = 0; k < f->n_meta; k++)
		if (json_object_set_new(meta, f->meta_keys[k], json_string(f->meta_vals[k])) < 0)
			goto fail;
	if (json_object_set_new(o, "rel", jstr(f->rel)) < 0 ||
	    json_object_set_new(o, "size", json_integer((json_int_t)f->size)) < 0 ||
	    json_object_set_new(o, "is_shard", json_boolean(f->is_shard)) < 0)
		goto fail;
	if (f->is_shard && (json_object_set_new(o, "data_start", json_integer((json_int_t)f->data_start)) < 0 ||
			    json_object_set(o, "metadata", meta) < 0))
		goto fail;
	json_decref(meta);
	return o;
fail:
	json_decref(meta);
	json_decref(o);
	return NULL;
}

int tfs_virt_index_json(const struct tfs_mount *m, char **out, size_t *len, struct tfs_error *err)
{
	json_t *root = json_object(), *tensors = json_array(), *files = json_array();
	char *text = NULL;

	if (!root || !tensors || !files)
		goto fail;
	if (json_object_set_new(root, "layout", json_string(tfs_catalog_layout(m->cat))) < 0 ||
	    json_object_set_new(root, "root", jstr(tfs_catalog_root(m->cat))) < 0 ||
	    json_object_set_new(root, "tensor_bytes",
				json_integer((json_int_t)tfs_catalog_tensor_bytes(m->cat))) < 0)
		goto fail;
	for (size_t i = 0; i < tfs_catalog_tensor_count(m->cat); i++)
		if (json_array_append_new(tensors, tensor_json(m, i)) < 0)
			goto fail;
	for (size_t i = 0; i < tfs_catalog_file_count(m->cat); i++)
		if (json_array_append_new(files, file_json(tfs_catalog_file(m->cat, i))) < 0)
			goto fail;
	if (json_object_set(root, "tensors", tensors) < 0 || json_object_set(root, "files", files) < 0)
		goto fail;
	text = json_dumps(root, JSON_INDENT(1) | JSON_ENSURE_ASCII);
	if (!text)
		goto fail;
	json_decref(tensors);
	json_decref(files);
	json_decref(root);
	*len = strlen(text);
	/* A trailing newline, as `cat` users expect of a text file. */
	*out = realloc(text, *len + 2);
	if (!*out) {
		free(text);
		return tfs_error_set(err, -ENOMEM, "index.json: out of memory");
	}
	(*out)[(*len)++] = '\n';
	(*out)[*len] = '\0';
	return 0;
fail:
	json_decref(tensors);
	json_decref(files);
	json_decref(root);
	return tfs_error_set(err, -ENOMEM, "index.json: out of memory");
}

int tfs_virt_index_ensure(struct tfs_mount *m)
{
	struct tfs_error err;
	int rc = 0;

	if (atomic_load(&m->index_ready))
		return 0;
	pthread_mutex_lock(&m->index_lock);
	if (!atomic_load(&m->index_ready)) {
		rc = tfs_virt_index_json(m, &m->index_json, &m->index_len, &err);
		if (rc < 0)
			tfs_log(m->log, "%s", err.msg);
		else
			atomic_store(&m->index_ready, 1);
		/* The JSON tree it took to build (a few hundred MB for 200,000 tensors) is freed, but
		 * malloc keeps the pages for good unless asked to give them back. Only the text stays. */
		malloc_trim(0);
	}
	pthread_mutex_unlock(&m->index_lock);
	return rc;
}

int tfs_virt_stats(struct tfs_mount *m, char **out, size_t *len)
{
	struct tfs_stats st;
	char engine[4096];
	size_t cap = sizeof(engine) + 256;
	char *buf = malloc(cap);
	const char *pt, *pt_note;
	int n;

	if (!buf)
		return -ENOMEM;
	tfs_engine_stats(m->engine, &st);
	if (tfs_stats_json(&st, engine, sizeof(engine)) < 0)
		strcpy(engine, "{}");
	pthread_mutex_lock(&m->pt_lock);
	pt = m->pt_on ? "auto" : "off";
	pt_note = m->passthrough != TFS_PT_OFF && !m->pt_on ? m->pt_note : NULL;
	pthread_mutex_unlock(&m->pt_lock);
	/* The engine's object, with the mount's own counters added in front. */
	n = snprintf(buf, cap, "{\"opens\": %" PRIuFAST64 ", \"tensors\": %zu, \"tensor_bytes\": %" PRIu64
		     ", \"kernel_copy\": \"%s%s%s\", \"passthrough\": \"%s%s%s\", \"passthrough_opens\": %" PRIuFAST64 ", %s\n",
		     atomic_load(&m->opens), tfs_catalog_tensor_count(m->cat),
		     tfs_catalog_tensor_bytes(m->cat), m->direct_io ? "one" : "two",
		     m->copy_note ? ": " : "", m->copy_note ? m->copy_note : "", pt,
		     pt_note ? ": " : "", pt_note ? pt_note : "", atomic_load(&m->pt_opens), engine + 1);
	if (n < 0 || (size_t)n >= cap) {
		free(buf);
		return -ENOSPC;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}
