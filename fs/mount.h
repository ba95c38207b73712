/*
 * mount.h - the state of one mount, shared by the FUSE ops (ops.c), the virtual files (virt.c) and
 * main.c, which creates it. One struct passed down; nothing global.
 */
#ifndef TFS_MOUNT_H
#define TFS_MOUNT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "tensorfs.h"
#include "tree.h"

struct tfs_log;

struct tfs_mount {
	const struct tfs_catalog *cat;     /* owned by main */
	struct tfs_engine *engine;         /* owned by main */
	struct tfs_tree *tree;             /* owned by main */
	struct tfs_log *log;               /* owned by main */
	char *index_json;                  /* .tensorfs/index.json, built once at mount */
	size_t index_len;
	uid_t uid;                         /* owner shown on every node: the mounting user */
	gid_t gid;
	int64_t mtime_ns;                  /* timestamp of directories and virtual files */
	double timeout;                    /* entry/attr cache seconds: the tree never changes */
	atomic_uint_fast64_t opens;        /* open() calls served */
	/* XXH3 digests, computed on first getxattr and then kept: xxh_state[i] is 0 (not yet),
	 * 1 (xxh[i] valid). Races only compute the same value twice. */
	_Atomic uint64_t *xxh;
	atomic_uchar *xxh_state;
};

/* The FUSE low-level operations table (ops.c). */
struct fuse_lowlevel_ops;
const struct fuse_lowlevel_ops *tfs_ops(void);

/* virt.c: .tensorfs/index.json text (malloc'd, caller frees) and the live stats JSON. */
int tfs_virt_index_json(const struct tfs_mount *m, char **out, size_t *len, struct tfs_error *err);
int tfs_virt_stats(struct tfs_mount *m, char **out, size_t *len);

#endif
