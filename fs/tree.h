/*
 * tree.h - the directory tree a mount shows, built once from the catalog and read-only afterwards.
 *
 * Rules (README, "The tree"): a tensor name splits on '.' into directories; a component's bytes '%',
 * '/', and control bytes are percent-encoded as %XX, an empty component is shown as "%", and one
 * longer than 255 bytes is cut and suffixed with "%~" and 16 hex digits of its XXH3. A tensor whose
 * name is also a prefix of others becomes the file "%self" inside the directory. Names starting
 * with '%' are therefore never produced by a real component and are reserved for tensorfs; a
 * top-level ".tensorfs" (a diffusers component) is shown as "%2Etensorfs", beside tensorfs' own.
 * Checkpoint files appear at their relative paths; `.tensorfs/` holds the virtual files (index.json,
 * stats, metadata.json).
 */
#ifndef TFS_TREE_H
#define TFS_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "tensorfs.h"

enum tfs_node_kind { TFS_NODE_DIR, TFS_NODE_TENSOR, TFS_NODE_FILE, TFS_NODE_VIRT };

/* Virtual files under .tensorfs/ */
enum tfs_virt { TFS_VIRT_INDEX, TFS_VIRT_STATS, TFS_VIRT_METADATA };

#define TFS_SELF_NAME "%self"
#define TFS_NAME_MAX 255

struct tfs_node {
	char *name;              /* escaped component, as listed */
	uint32_t parent;         /* node id of the directory holding it; root's parent is itself */
	enum tfs_node_kind kind;
	uint32_t ref;            /* tensor index, file index or enum tfs_virt */
	uint32_t *children;      /* dirs: child ids sorted by name */
	uint32_t n_children;
	size_t cap_children;
};

struct tfs_tree;

/*
 * Builds the tree of `cat` (which must outlive it). `leaf_suffix` (NULL: none) ends every tensor
 * file's name (".npy" for the npy view), kept within TFS_NAME_MAX by cutting the name before it.
 * On success *out is owned by the caller.
 */
int tfs_tree_build(const struct tfs_catalog *cat, const char *leaf_suffix, struct tfs_tree **out,
		   struct tfs_error *err);
void tfs_tree_free(struct tfs_tree *t);

/* Node ids are 0..count-1; 0 is the root. FUSE inode numbers are id + 1. */
size_t tfs_tree_count(const struct tfs_tree *t);
const struct tfs_node *tfs_tree_node(const struct tfs_tree *t, uint32_t id);
/* Child `name` of directory `dir`, or -1. */
int64_t tfs_tree_lookup(const struct tfs_tree *t, uint32_t dir, const char *name);
/* Node id of tensor i of the catalog. */
uint32_t tfs_tree_tensor_node(const struct tfs_tree *t, size_t tensor);
/* Writes the node's path from the root ("model/layers/0/weight") into buf; -ENAMETOOLONG if short. */
int tfs_tree_path(const struct tfs_tree *t, uint32_t id, char *buf, size_t cap);
/* Non-fatal findings (a checkpoint file hidden by a tensor of the same path), one per line, or "". */
const char *tfs_tree_warnings(const struct tfs_tree *t);

/* Escapes `len` bytes of one name component into out (cap >= TFS_NAME_MAX + 1); returns its length. */
size_t tfs_tree_escape(const char *comp, size_t len, char *out);

#endif
