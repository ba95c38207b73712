/*
 * hf_folders.c - which files of a checkpoint folder are its shards: a lone *.safetensors, a sharded
 * checkpoint described by *.safetensors.index.json, or a diffusers folder (model_index.json naming
 * component subfolders, each one of the first two). Index files are checked against the shard
 * headers they describe; the headers themselves are parsed by the format table (format/format.c) when catalog.c
 * loads each shard.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/catalog_int.h"
#include "error.h"

static int has_suffix(const char *s, const char *suf)
{
	size_t ls = strlen(s), lf = strlen(suf);

	return ls >= lf && strcmp(s + ls - lf, suf) == 0;
}

/* A shard path in an index must stay inside the folder: relative, no "." or ".." component. */
static int safe_relpath(const char *p)
{
	const char *c = p;

	if (!*p || *p == '/')
		return 0;
	while (*c) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += n + (c[n] == '/');
	}
	return c[-1] != '/';
}

static const struct tfs_fmt_tensor *find_in_header(const struct tfs_fmt_header *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->t[i].name, name) == 0)
			return &h->t[i];
	return NULL;
}

/* Diagnosis only: the first tensor the index maps to a shard that does not hold it, as an error;
 * 0 when there is none. Linear in the shard per entry, so it runs only after a cheaper check failed. */
static int find_unheld(struct tfs_catalog *cat, const char *dir, json_t *wm, const char *ipath,
		       struct tfs_error *err)
{
	const char *k;
	json_t *v;

	json_object_foreach(wm, k, v) {
		char *rel = tfs_path_join(dir, json_string_value(v));
		int fi = rel ? tfs_catalog_find_file(cat, rel) : -1;

		free(rel);
		if (fi < 0)
			return tfs_error_set(err, -ENOMEM, "%s: out of memory", ipath);
		if (!find_in_header(&cat->files[fi].hdr, k))
			return tfs_error_set(err, -EINVAL, "%s: tensor '%s' is mapped to %s but that "
					     "shard does not hold it", ipath, k, cat->files[fi].pub.rel);
	}
	return 0;
}

/* Loads a sharded checkpoint from its index (rel path), under `component`. */
static int load_index(struct tfs_catalog *cat, const char *dir, const char *index_rel,
		      const char *component, struct tfs_error *err)
{
	char *ipath = tfs_path_join(cat->root, index_rel);
	json_t *root = NULL, *wm, *v, *meta, *total;
	size_t first = cat->n_files, mapped = 0;
	uint64_t sum = 0, held = 0;
	json_error_t jerr;
	const char *k;
	int rc = 0;

	if (!ipath)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", index_rel);
	root = json_load_file(ipath, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		rc = tfs_error_set(err, -EINVAL, "%s: not valid JSON: %s (line %d)", ipath, jerr.text,
				   jerr.line);
		goto out;
	}
	wm = json_object_get(root, "weight_map");
	if (!json_is_object(wm)) {
		rc = tfs_error_set(err, -EINVAL, "%s: no \"weight_map\" object", ipath);
		goto out;
	}
	/* First pass: the shard files, in the order the index first names them. */
	json_object_foreach(wm, k, v) {
		char *rel;
		int fi;

		if (k[0] == '\0') {
			rc = tfs_error_set(err, -EINVAL, "%s: weight_map has an empty tensor name", ipath);
			goto out;
		}
		if (!json_is_string(v) || !safe_relpath(json_string_value(v))) {
			rc = tfs_error_set(err, -EINVAL, "%s: weight_map entry '%s' is not a shard file "
					   "name inside the folder", ipath, k);
			goto out;
		}
		rel = tfs_path_join(dir, json_string_value(v));
		if (!rel) {
			rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", ipath);
			goto out;
		}
		fi = tfs_catalog_find_file(cat, rel);
		if (fi < 0)
			fi = tfs_catalog_add_file(cat, rel, err);
		if (fi >= 0 && (size_t)fi < first) {
			fi = tfs_error_set(err, -EINVAL, "%s: shard %s is already part of another "
					   "checkpoint in this folder", ipath, rel);
		}
		if (fi >= 0)
			fi = tfs_catalog_load_shard(cat, fi, component, err);
		free(rel);
		if (fi < 0) {
			rc = fi;
			goto out;
		}
	}
	/* Second pass: every tensor of every shard must be mapped to that shard. Names are unique in
	 * the index, so this plus equal counts means the index and the headers agree exactly; it costs
	 * one hash lookup per tensor. Only when they disagree is the index searched entry by entry,
	 * to name a mapped tensor that its shard lacks (the more useful message). */
	mapped = json_object_size(wm);
	for (size_t fi = first; fi < cat->n_files && rc == 0; fi++) {
		const struct tfs_fmt_header *h = &cat->files[fi].hdr;
		for (size_t i = 0; i < h->n && rc == 0; i++) {
			json_t *m = json_object_get(wm, h->t[i].name);
			char *rel = m ? tfs_path_join(dir, json_string_value(m)) : NULL;

			if (!rel || strcmp(rel, cat->files[fi].pub.rel) != 0)
				rc = tfs_error_set(err, -EINVAL, "%s: tensor '%s' is in shard %s but the "
						   "index maps it %s%s", ipath, h->t[i].name,
						   cat->files[fi].pub.rel, m ? "to " : "nowhere",
						   m ? json_string_value(m) : "");
			free(rel);
			sum += h->t[i].length;
		}
		held += h->n;
	}
	if (rc < 0 || held != mapped) {
		int rc2 = find_unheld(cat, dir, wm, ipath, err);
		if (rc2 < 0 || rc < 0) {
			rc = rc2 < 0 ? rc2 : rc;
			goto out;
		}
		rc = tfs_error_set(err, -EINVAL, "%s: index maps %zu tensors but its shards hold %" PRIu64,
				   ipath, mapped, held);
		goto out;
	}
	meta = json_object_get(root, "metadata");
	total = json_is_object(meta) ? json_object_get(meta, "total_size") : NULL;
	if (json_is_integer(total) && (uint64_t)json_integer_value(total) != sum)
		tfs_catalog_warn(cat, "%s: metadata.total_size is %" JSON_INTEGER_FORMAT " but the mapped "
				 "tensors hold %" PRIu64 " bytes", ipath, json_integer_value(total), sum);
out:
	json_decref(root);
	free(ipath);
	return rc;
}

/* The checkpoint of one folder (rel `dir`, "" for the root): an index if there is one, else the
 * one *.safetensors file. `*found` tells whether there was any. */
static int load_checkpoint_dir(struct tfs_catalog *cat, const char *dir, const char *component,
			       int *found, struct tfs_error *err)
{
	static const char *const preferred[] = { "model.safetensors.index.json",
		"diffusion_pytorch_model.safetensors.index.json", "model.safetensors",
		"diffusion_pytorch_model.safetensors" };
	char *abs = tfs_path_join(cat->root, dir), *index = NULL, *single = NULL, *pick = NULL;
	int n_index = 0, n_single = 0, rc = 0;
	struct dirent *de;
	DIR *d;

	*found = 0;
	if (!abs)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", dir);
	d = opendir(abs);
	if (!d) {
		rc = tfs_error_set(err, -errno, "%s: cannot list: %s", abs, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < 4 && !pick; i++)
			if (strcmp(de->d_name, preferred[i]) == 0)
				pick = strdup(de->d_name);
		if (has_suffix(de->d_name, ".safetensors.index.json") && n_index++ == 0)
			index = strdup(de->d_name);
		else if (has_suffix(de->d_name, ".safetensors") && n_single++ == 0)
			single = strdup(de->d_name);
	}
	closedir(d);
	/* Named files win (a sharded "model" beats its own lone file); a lone index or lone file is
	 * unambiguous; several unnamed candidates (fp16 variants, say) are an error, not a guess. */
	if (pick && has_suffix(pick, ".safetensors") && n_index > 0) {
		free(pick);
		pick = NULL;
	}
	if (!pick && n_index == 1)
		pick = strdup(index);
	else if (!pick && n_index == 0 && n_single == 1)
		pick = strdup(single);
	else if (!pick && (n_index || n_single)) {
		rc = tfs_error_set(err, -EINVAL, "%s: %d index files and %d .safetensors files and none "
				   "named model.safetensors[.index.json]: which is the checkpoint?",
				   abs, n_index, n_single);
		goto out;
	}
	if (pick) {
		char *rel = tfs_path_join(dir, pick);
		int fi;

		*found = 1;
		if (!rel) {
			rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", abs);
		} else if (has_suffix(pick, ".index.json")) {
			if (!component[0])
				cat->layout = "sharded";
			rc = load_index(cat, dir, rel, component, err);
		} else {
			if (!component[0])
				cat->layout = "safetensors";
			fi = tfs_catalog_add_file(cat, rel, err);
			rc = fi < 0 ? fi : tfs_catalog_load_shard(cat, fi, component, err);
		}
		free(rel);
	}
out:
	free(abs);
	free(index);
	free(single);
	free(pick);
	return rc;
}

static int load_diffusers(struct tfs_catalog *cat, struct tfs_error *err)
{
	char *mpath = tfs_path_join(cat->root, "model_index.json");
	json_t *root, *v;
	json_error_t jerr;
	const char *k;
	int rc = 0, found;

	if (!mpath)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", cat->root);
	root = json_load_file(mpath, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		rc = tfs_error_set(err, -EINVAL, "%s: not valid JSON: %s (line %d)", mpath, jerr.text,
				   jerr.line);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = tfs_error_set(err, -EINVAL, "%s: not a JSON object", mpath);
		goto out;
	}
	json_object_foreach(root, k, v) {
		struct stat st;
		char *sub;

		if (k[0] == '_' || !json_is_array(v) || json_is_null(json_array_get(v, 0)))
			continue; /* "_class_name", "_diffusers_version", absent components */
		if (!safe_relpath(k) || strchr(k, '/')) {
			rc = tfs_error_set(err, -EINVAL, "%s: component name '%s' is not a plain folder name",
					   mpath, k);
			goto out;
		}
		sub = tfs_path_join(cat->root, k);
		if (!sub) {
			rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", mpath);
			goto out;
		}
		if (stat(sub, &st) < 0 || !S_ISDIR(st.st_mode)) {
			tfs_catalog_warn(cat, "%s: component '%s' has no folder %s", mpath, k, sub);
			free(sub);
			continue;
		}
		free(sub);
		rc = load_checkpoint_dir(cat, k, k, &found, err);
		if (rc < 0)
			goto out;
	}
out:
	json_decref(root);
	free(mpath);
	return rc;
}

int tfs_layout_load_folder(struct tfs_catalog *cat, struct tfs_error *err)
{
	char *mi = tfs_path_join(cat->root, "model_index.json");
	struct stat st;
	int rc, found = 0, is_diffusers;

	if (!mi)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", cat->root);
	is_diffusers = stat(mi, &st) == 0 && S_ISREG(st.st_mode);
	free(mi);
	if (is_diffusers) {
		cat->layout = "diffusers";
		return load_diffusers(cat, err);
	}
	rc = load_checkpoint_dir(cat, "", "", &found, err);
	if (rc < 0)
		return rc;
	if (!found)
		return tfs_error_set(err, -ENOENT, "%s: no .safetensors checkpoint (nor model_index.json) "
				     "in this folder", cat->root);
	return 0;
}
