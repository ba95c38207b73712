/* catalog_int.h - the catalog's internals, shared by catalog.c (table) and hf_folders.c (layouts). */
#ifndef TFS_CATALOG_INT_H
#define TFS_CATALOG_INT_H

#include <stdarg.h>

#include "format/format.h"
#include "tensorfs.h"

struct tfs_cat_file {
	struct tfs_file pub;        /* path and rel owned here */
	struct tfs_fmt_header hdr;  /* parsed header when pub.is_shard */
	const struct tfs_format *fmt; /* its format when pub.is_shard */
	char *component;            /* shards: diffusers component or "" */
};

struct tfs_catalog {
	char *root;
	const char *layout;         /* static string */
	struct tfs_cat_file *files;
	size_t n_files, cap_files;
	size_t n_shard_tensors;     /* sum of hdr.n over shards, while building */
	struct tfs_tensor *tensors; /* disk order: by file, then offset */
	size_t n_tensors;
	uint32_t *by_key;           /* indexes into tensors, sorted by key */
	uint64_t tensor_bytes;
	char *warnings;             /* lines, each ending in '\n'; NULL when none */
	char *meta_json;            /* tfs_catalog_metadata_json(), built at open */
	size_t len_warnings, cap_warnings;
};

char *tfs_path_join(const char *a, const char *b);
int tfs_catalog_find_file(const struct tfs_catalog *cat, const char *rel);
int tfs_catalog_add_file(struct tfs_catalog *cat, const char *rel, struct tfs_error *err);
int tfs_catalog_load_shard(struct tfs_catalog *cat, int fi, const char *component,
			   struct tfs_error *err);
void tfs_catalog_warn(struct tfs_catalog *cat, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* gguf_split.c: when cat->files[0] (a parsed GGUF file) is the first of a split set, adds and
 * parses the rest of the set and sets the layout to "gguf-split"; 0 for a plain file. */
int tfs_layout_gguf_split(struct tfs_catalog *cat, struct tfs_error *err);

/* gguf_split.c: the one GGUF checkpoint (a lone *.gguf or one split set) of the local folder
 * cat->root, added as cat->files[0..]; *found = 0 when it holds no .gguf file. Several checkpoints
 * are an error listing them. Call only on a catalog with no files yet. */
int tfs_layout_gguf_folder(struct tfs_catalog *cat, int *found, struct tfs_error *err);

/* hf_folders.c: fills cat->files with the shards of the folder cat->root (any layout). */
int tfs_layout_load_folder(struct tfs_catalog *cat, struct tfs_error *err);

#endif
