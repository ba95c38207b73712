/*
 * fuzz_common.h - helpers shared by the fuzz targets (fuzz/ only): writing fixture files and the
 * oracle that a successfully opened catalog, and the tree built from it, keep every promise of
 * include/tensorfs.h and fs/tree.h. A broken promise aborts, which libFuzzer records as a crash.
 */
#ifndef TFS_FUZZ_COMMON_H
#define TFS_FUZZ_COMMON_H

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensorfs.h"
#include "tree.h"

#define FZ_CHECK(c)                                                                  \
	do {                                                                         \
		if (!(c)) {                                                          \
			fprintf(stderr, "fuzz: broken invariant at %s:%d: %s\n", __FILE__, \
				__LINE__, #c);                                       \
			abort();                                                     \
		}                                                                    \
	} while (0)

static const char *fz_cleanup_dir;

static int fz_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void fz_cleanup_dir_atexit(void)
{
	if (fz_cleanup_dir)
		nftw(fz_cleanup_dir, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fz_write_bytes(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) < 0)
		abort();
}

static void fz_write_text(const char *dir, const char *name, const char *text)
{
	fz_write_bytes(dir, name, text, strlen(text));
}

/* A safetensors file: header `json` padded to 8 bytes, then `data_len` bytes of a pattern. */
static void fz_write_shard(const char *dir, const char *name, const char *json, size_t data_len)
{
	size_t jl = strlen(json), pad = (8 - jl % 8) % 8, n = 8 + jl + pad + data_len;
	unsigned char *buf = malloc(n);

	if (!buf)
		abort();
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)((uint64_t)(jl + pad) >> (8 * i));
	memcpy(buf + 8, json, jl);
	memset(buf + 8 + jl, ' ', pad);
	for (size_t i = 0; i < data_len; i++)
		buf[8 + jl + pad + i] = (unsigned char)(i * 131 + 7);
	fz_write_bytes(dir, name, buf, n);
	free(buf);
}

/* A component name of the mount must be a safe, listable file name. */
static void fz_check_name(const char *name, int is_root)
{
	size_t len = strlen(name);

	if (is_root) {
		FZ_CHECK(len == 0);
		return;
	}
	FZ_CHECK(len > 0 && len <= TFS_NAME_MAX);
	FZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
	for (size_t i = 0; i < len; i++)
		FZ_CHECK(name[i] != '/' && (unsigned char)name[i] >= 0x20 && name[i] != 0x7f);
}

/* Every promise of fs/tree.h about a built tree. */
static void fz_check_tree(const struct tfs_catalog *cat, const struct tfs_tree *t)
{
	size_t n = tfs_tree_count(t);
	static char path[1 << 16];

	FZ_CHECK(n >= 1 && tfs_tree_node(t, 0)->kind == TFS_NODE_DIR);
	FZ_CHECK(tfs_tree_node(t, (uint32_t)n) == NULL);
	for (uint32_t id = 0; id < n; id++) {
		const struct tfs_node *nd = tfs_tree_node(t, id);
		fz_check_name(nd->name, id == 0);
		FZ_CHECK(nd->parent < n && tfs_tree_node(t, nd->parent)->kind == TFS_NODE_DIR);
		if (id != 0)
			FZ_CHECK(tfs_tree_lookup(t, nd->parent, nd->name) == id);
		for (uint32_t c = 0; c < nd->n_children; c++) {
			FZ_CHECK(nd->children[c] < n && tfs_tree_node(t, nd->children[c])->parent == id);
			if (c)
				FZ_CHECK(strcmp(tfs_tree_node(t, nd->children[c - 1])->name,
						tfs_tree_node(t, nd->children[c])->name) < 0);
		}
		if (nd->kind == TFS_NODE_TENSOR) {
			FZ_CHECK(nd->ref < tfs_catalog_tensor_count(cat));
			FZ_CHECK(tfs_tree_tensor_node(t, nd->ref) == id);
		}
		if (nd->kind == TFS_NODE_FILE)
			FZ_CHECK(nd->ref < tfs_catalog_file_count(cat));
		FZ_CHECK(tfs_tree_path(t, id, path, sizeof(path)) == 0 || id != 0);
	}
	for (size_t i = 0; i < tfs_catalog_tensor_count(cat); i++) {
		const struct tfs_node *nd = tfs_tree_node(t, tfs_tree_tensor_node(t, i));
		FZ_CHECK(nd && nd->kind == TFS_NODE_TENSOR && nd->ref == i);
	}
}

/* Every promise of include/tensorfs.h about an opened catalog. */
static void fz_check_catalog(const struct tfs_catalog *cat)
{
	size_t nt = tfs_catalog_tensor_count(cat), nf = tfs_catalog_file_count(cat);
	uint64_t bytes = 0;

	FZ_CHECK(tfs_catalog_layout(cat) && tfs_catalog_root(cat) && tfs_catalog_warnings(cat));
	for (size_t i = 0; i < nf; i++) {
		const struct tfs_file *f = tfs_catalog_file(cat, i);
		FZ_CHECK(f->path && f->rel && f->rel[0] && f->rel[0] != '/');
		FZ_CHECK(strstr(f->rel, "../") == NULL && strcmp(f->rel, "..") != 0);
		if (f->is_shard)
			FZ_CHECK(f->data_start >= 8 && f->data_start <= f->size);
	}
	for (size_t i = 0; i < nt; i++) {
		const struct tfs_tensor *t = tfs_catalog_tensor(cat, i);
		const struct tfs_file *f;
		FZ_CHECK(t->file < nf);
		f = tfs_catalog_file(cat, t->file);
		FZ_CHECK(f->is_shard && t->offset >= f->data_start && t->offset <= f->size &&
			 t->length <= f->size - t->offset);
		FZ_CHECK(t->key && t->name && t->name[0] && t->component);
		FZ_CHECK(tfs_catalog_find(cat, t->key) == t);
		if (i) {
			const struct tfs_tensor *p = tfs_catalog_tensor(cat, i - 1);
			FZ_CHECK(p->file < t->file || (p->file == t->file && p->offset + p->length == t->offset));
		}
		bytes += t->length;
	}
	FZ_CHECK(bytes == tfs_catalog_tensor_bytes(cat));
	FZ_CHECK(tfs_catalog_tensor(cat, nt) == NULL && tfs_catalog_file(cat, nf) == NULL);
}

/* Opens `path`; on success checks the catalog, builds and checks the tree. */
static void fz_open_and_check(const char *path)
{
	struct tfs_catalog *cat = NULL;
	struct tfs_tree *tree = NULL;
	struct tfs_error err;
	int rc;

	memset(err.msg, 'X', sizeof(err.msg));
	rc = tfs_catalog_open(path, &cat, &err);
	if (rc < 0) {
		FZ_CHECK(cat == NULL && memchr(err.msg, '\0', sizeof(err.msg)) && err.msg[0]);
		return;
	}
	fz_check_catalog(cat);
	rc = tfs_tree_build(cat, NULL, &tree, &err);
	if (rc == 0) {
		fz_check_tree(cat, tree);
		tfs_tree_free(tree);
	} else {
		FZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) && err.msg[0]);
	}
	tfs_catalog_close(cat);
}

#endif
