/*
 * mount.h - the state of one mount, shared by the FUSE ops (ops.c), the virtual files (virt.c) and
 * main.c, which creates it. One struct passed down; nothing global.
 */
#ifndef TFS_MOUNT_H
#define TFS_MOUNT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "tensorfs.h"
#include "list.h"
#include "tree.h"

struct tfs_log;
struct fuse_session;
struct fuse_req;
struct fuse_conn_info;

struct tfs_mount {
	const struct tfs_catalog *cat;     /* owned by main */
	struct tfs_engine *engine;         /* owned by main */
	struct tfs_tree *tree;             /* owned by main */
	struct tfs_log *log;               /* owned by main */
	struct fuse_session *se;           /* owned by main; set before the engine's watch starts */
	/* .tensorfs/index.json, built on first use (a mount costs only the headers): valid once
	 * index_ready is set; index_lock serialises the build. */
	pthread_mutex_t index_lock;
	atomic_int index_ready;
	char *index_json;
	size_t index_len;
	/* .tensorfs/stats: the snapshot taken at the latest open, padded to its fixed size (ops.c);
	 * replaced and read under stats_lock. */
	pthread_mutex_t stats_lock;
	char *stats_snap;
	uid_t uid;                         /* owner shown on every node: the mounting user */
	gid_t gid;
	int64_t mtime_ns;                  /* timestamp of directories and virtual files */
	double timeout;                    /* entry/attr cache seconds: the tree never changes */
	int splice;                        /* reply to page-cache-hot reads by splicing the shard */
	int npy;                           /* --view npy: tensor files are NAME.npy, an NPY header
					    * (fs/npy.h) before the tensor's bytes */
	/* --kernel-copy: 1 asks for one copy (tensor files opened FOPEN_DIRECT_IO, with
	 * FUSE_DIRECT_IO_ALLOW_MMAP so shared mmap still works), 2 for the page-cache mode. The init
	 * callback sets direct_io and copy_note before the kernel sends any other request; both are
	 * read-only afterwards. */
	int kernel_copy;
	int direct_io;
	const char *copy_note;             /* why direct_io is off when one copy was asked for */
	/* --passthrough (passthrough.c): checkpoint files open in the kernel's passthrough mode.
	 * The init callback sets pt_on (asked for and offered) before any open; after that pt_on is
	 * only cleared, under pt_lock, when the kernel refuses a backing file. */
	enum { TFS_PT_OFF, TFS_PT_AUTO } passthrough;
	int pt_on;
	pthread_mutex_t pt_lock;
	int32_t *pt_id;                    /* per catalog file: 0 none yet, > 0 its backing id, -1
					    * never (changed, refused); pt_lock */
	uint32_t *pt_live;                 /* per catalog file: handles open through the daemon;
					    * pt_lock */
	const char *pt_note;               /* why passthrough is off although asked for; pt_lock */
	atomic_uint_fast64_t pt_opens;     /* opens answered in passthrough mode */
	char ra_path[64];                  /* the mount's bdi read_ahead_kb file, or "" */
	uint64_t ra_kb;                    /* value to write there */
	atomic_int ra_done;                /* written (or tried) once, by the first request */
	atomic_uint_fast64_t opens;        /* open() calls served */
	/* Handles still open. The kernel sends no release for files open when the mount goes away
	 * (lazy unmount, SIGTERM), so shutdown frees these before closing the engine. */
	pthread_mutex_t fh_lock;
	struct tfs_list fh_list;           /* open handles (struct tfs_fh); fh_lock */
	/* XXH3 digests, computed on first getxattr and then kept: xxh_state[i] is 0 (not yet),
	 * 1 (xxh[i] valid). Races only compute the same value twice. */
	_Atomic uint64_t *xxh;
	atomic_uchar *xxh_state;
};

/* The node behind a FUSE inode number: FUSE's root is 1, the tree's root node is 0. */
static inline const struct tfs_node *tfs_node_of(const struct tfs_mount *m, uint64_t ino)
{
	return ino >= 1 ? tfs_tree_node(m->tree, (uint32_t)(ino - 1)) : NULL;
}

/* Writes m->ra_kb into m->ra_path once; called by requests, which the kernel sends only after
 * it applied our INIT reply (which resets the value). Cheap after the first call. */
void tfs_tune_readahead(struct tfs_mount *m);

/* The FUSE low-level operations table (ops.c). */
struct fuse_lowlevel_ops;
const struct fuse_lowlevel_ops *tfs_ops(void);
/* Frees every handle still open (ops.c); after the session loop ended, before tfs_engine_close. */
void tfs_ops_release_all(struct tfs_mount *m);

/* inval.c: the engine's tfs_change_fn (ctx: the mount): a checkpoint file changed, so the kernel's
 * page cache and attributes of every node showing its bytes are dropped. Runs on the watch thread. */
void tfs_mount_file_changed(void *ctx, uint32_t file);

/* passthrough.c: tfs_pt_init asks for passthrough in the init callback unless --passthrough off;
 * tfs_pt_open returns the backing id an open of checkpoint file `file` replies with
 * (fi->backing_id), or 0 for an open through the daemon, which the caller ends with tfs_pt_close
 * when the handle is released; tfs_pt_refuse (the watch thread, a changed file) stops handing
 * the id out. */
void tfs_pt_init(struct tfs_mount *m, struct fuse_conn_info *conn);
int32_t tfs_pt_open(struct tfs_mount *m, struct fuse_req *req, uint32_t file);
void tfs_pt_close(struct tfs_mount *m, uint32_t file);
void tfs_pt_refuse(struct tfs_mount *m, uint32_t file);

/* virt.c: .tensorfs/index.json text (malloc'd, caller frees) and the live stats JSON. */
int tfs_virt_index_json(const struct tfs_mount *m, char **out, size_t *len, struct tfs_error *err);
/* Builds m->index_json on first call (thread-safe); -ENOMEM if it cannot. */
int tfs_virt_index_ensure(struct tfs_mount *m);
int tfs_virt_stats(struct tfs_mount *m, char **out, size_t *len);

#endif
