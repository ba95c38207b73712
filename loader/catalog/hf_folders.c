/*
 * hf_folders.c - which files of a checkpoint folder are its shards: a lone *.safetensors, a sharded
 * checkpoint described by *.safetensors.index.json, or a diffusers folder (model_index.json naming
 * component subfolders, each one of the first two); failing those, a local folder's one GGUF
 * checkpoint (gguf_split.c). Index files are checked against the shard
 * headers they describe; the headers themselves are parsed by the format table (format/format.c) when catalog.c
 * loads each shard.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/catalog_int.h"
#include "error.h"
#include "io/source.h"

/* Reads the JSON file `path` through its byte source (a local file or a URL). NULL with err set
 * (-EINVAL "not valid JSON", or the source's error) when it cannot. Caller decrefs. */
static json_t *load_json(const char *path, struct tfs_error *err)
{
	struct tfs_source *src;
	json_error_t jerr;
	json_t *root = NULL;
	char *buf = NULL;
	ssize_t got;

	if (tfs_source_open(path, NULL, &src, err) < 0)
		return NULL;
	if (src->info.size > 256u << 20) {
		tfs_error_set(err, -EFBIG, "%s: %" PRIu64 " bytes: too large for a JSON index", path,
			      src->info.size);
		goto out;
	}
	buf = malloc(src->info.size + 1);
	if (!buf) {
		tfs_error_set(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	got = src->info.size ? tfs_source_read(src, buf, src->info.size, 0, 0, err) : 0;
	if (got < 0)
		goto out;
	root = json_loadb(buf, (size_t)got, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		tfs_error_set(err, -EINVAL, "%s: not valid JSON: %s (line %d)", path, jerr.text,
			      jerr.line);
out:
	free(buf);
	tfs_source_close(src);
	return root;
}

/* 1 when the file `rel` (under the root) exists, 0 when it does not (-ENOENT: one stat, or one
 * probe GET for URLs); another negative errno with err set when the answer was an error. */
static int file_exists(const struct tfs_catalog *cat, const char *rel, struct tfs_error *err)
{
	char *path = tfs_path_join(cat->root, rel);
	struct tfs_source_info info;
	int rc;

	if (!path)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", rel);
	rc = tfs_source_stat(path, &info, err);
	free(path);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

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
	const char *k;
	int rc = 0;

	if (!ipath)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", index_rel);
	root = load_json(ipath, err);
	if (!root) {
		rc = -EINVAL;
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
	if (tfs_source_is_url(cat->root)) {
		/* No listing over HTTP: the first preferred name that exists is the checkpoint. */
		for (size_t i = 0; i < 4 && !pick && rc == 0; i++) {
			char *rel = tfs_path_join(dir, preferred[i]);
			if (!rel)
				rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", abs);
			else if ((rc = file_exists(cat, rel, err)) > 0)
				pick = strdup(preferred[i]);
			free(rel);
			rc = rc < 0 ? rc : 0;
		}
		goto picked;
	}
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
picked:
	if (pick && rc == 0) {
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

/* One name asked for by add_named_files, on its own thread. */
struct probe {
	char *path;
	int rc;               /* 0: there; else the stat's negative errno */
	struct tfs_error err;
	pthread_t thread;
	int started;
};

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	struct tfs_source_info info;

	p->rc = tfs_source_stat(p->path, &info, &p->err);
	return NULL;
}

/*
 * A URL folder cannot be listed, so the files beside the weights that loaders want (configs,
 * tokenizers, the index itself) are asked for by name; those that exist join the catalog. The
 * probes run at once, one thread each (a round trip each, many over the Hub's TLS), then the
 * files found are added in the list's order.
 */
static int add_named_files(struct tfs_catalog *cat, const char *dir, struct tfs_error *err)
{
	static const char *const names[] = {
		"config.json", "generation_config.json", "model_index.json", "scheduler_config.json",
		"preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
		"special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt",
		"added_tokens.json", "model.safetensors.index.json",
		"diffusion_pytorch_model.safetensors.index.json",
	};
	enum { N = sizeof(names) / sizeof(names[0]) };
	struct probe pr[N];
	char *rel[N];
	int rc = 0;

	memset(pr, 0, sizeof(pr));
	for (size_t i = 0; i < N; i++) {
		rel[i] = tfs_path_join(dir, names[i]);
		pr[i].path = rel[i] ? tfs_path_join(cat->root, rel[i]) : NULL;
		pr[i].rc = -ENOENT;
		if (!pr[i].path)
			rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", cat->root);
		else if (tfs_catalog_find_file(cat, rel[i]) >= 0)
			continue; /* already listed (a shard or the index) */
		else if (pthread_create(&pr[i].thread, NULL, probe_main, &pr[i]) == 0)
			pr[i].started = 1;
		else
			probe_main(&pr[i]); /* no thread to spare: probe here */
	}
	for (size_t i = 0; i < N; i++) {
		if (pr[i].started)
			pthread_join(pr[i].thread, NULL);
		/* Absent; or forbidden, as S3 answers for a missing key without ListBucket. */
		if (rc == 0 && pr[i].rc < 0 && pr[i].rc != -ENOENT && pr[i].rc != -EACCES) {
			rc = pr[i].rc;
			if (err)
				*err = pr[i].err;
		}
		if (rc == 0 && pr[i].rc == 0) {
			int fi = tfs_catalog_add_file(cat, rel[i], err);
			rc = fi < 0 ? fi : 0;
		}
		free(rel[i]);
		free(pr[i].path);
	}
	return rc;
}

static int load_diffusers(struct tfs_catalog *cat, struct tfs_error *err)
{
	char *mpath = tfs_path_join(cat->root, "model_index.json");
	int remote = tfs_source_is_url(cat->root);
	json_t *root, *v;
	const char *k;
	int rc = 0, found;

	if (!mpath)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", cat->root);
	root = load_json(mpath, err);
	if (!root) {
		rc = -EINVAL;
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
		/* A URL's folders cannot be stat()ed: a component with nothing found adds nothing. */
		if (!remote && (stat(sub, &st) < 0 || !S_ISDIR(st.st_mode))) {
			tfs_catalog_warn(cat, "%s: component '%s' has no folder %s", mpath, k, sub);
			free(sub);
			continue;
		}
		free(sub);
		rc = load_checkpoint_dir(cat, k, k, &found, err);
		if (rc == 0 && remote)
			rc = add_named_files(cat, k, err);
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
	if (tfs_source_is_url(cat->root)) {
		free(mi);
		is_diffusers = file_exists(cat, "model_index.json", err);
		if (is_diffusers < 0)
			return is_diffusers;
	} else {
		is_diffusers = stat(mi, &st) == 0 && S_ISREG(st.st_mode);
		free(mi);
	}
	if (is_diffusers) {
		cat->layout = "diffusers";
		rc = load_diffusers(cat, err);
	} else {
		rc = load_checkpoint_dir(cat, "", "", &found, err);
		/* No safetensors: a local folder may hold GGUF; a URL folder cannot be listed, so
		 * its GGUF names are unknown and only a URL naming the file can open one. */
		if (rc == 0 && !found && !tfs_source_is_url(cat->root))
			rc = tfs_layout_gguf_folder(cat, &found, err);
		if (rc == 0 && !found && tfs_source_is_url(cat->root))
			rc = tfs_error_set(err, -ENOENT, "%s/: no .safetensors checkpoint (nor "
					   "model_index.json) at this folder URL; a URL folder cannot be "
					   "listed, so for GGUF name the .gguf file in the URL (the first "
					   "part of a split set)", cat->root);
		else if (rc == 0 && !found)
			rc = tfs_error_set(err, -ENOENT, "%s: no .safetensors checkpoint (nor "
					   "model_index.json, nor a .gguf file) in this folder", cat->root);
	}
	if (rc == 0 && tfs_source_is_url(cat->root))
		rc = add_named_files(cat, "", err);
	return rc;
}
