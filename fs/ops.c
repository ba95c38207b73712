/*
 * ops.c - the FUSE low-level operations of a read-only tensorfs mount. Modelled on libfuse's
 * hello_ll.c: one short function per operation, each ending in exactly one fuse_reply_*; attributes
 * come from one function (node_stat) so lookup and getattr can never disagree. Every byte of a
 * tensor or checkpoint file is read through the engine; the tree and index never change, so the
 * kernel may cache entries, attributes and pages for as long as the mount lives.
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "engine.h"
#include "log.h"
#include "mount.h"

/* Per open file: the engine stream (readahead state) or a snapshot of a live virtual file. */
struct tfs_fh {
	struct tfs_stream *stream;
	char *snap;
	size_t snap_len;
	struct tfs_fh *prev, *next;   /* m->fh_list, under m->fh_lock */
};

static void fh_link(struct tfs_mount *m, struct tfs_fh *fh)
{
	pthread_mutex_lock(&m->fh_lock);
	fh->prev = NULL;
	fh->next = m->fh_list;
	if (m->fh_list)
		m->fh_list->prev = fh;
	m->fh_list = fh;
	pthread_mutex_unlock(&m->fh_lock);
}

/* Unlinks and frees a handle. */
static void fh_free(struct tfs_mount *m, struct tfs_fh *fh)
{
	pthread_mutex_lock(&m->fh_lock);
	if (fh->prev)
		fh->prev->next = fh->next;
	else
		m->fh_list = fh->next;
	if (fh->next)
		fh->next->prev = fh->prev;
	pthread_mutex_unlock(&m->fh_lock);
	tfs_stream_close(fh->stream);
	free(fh->snap);
	free(fh);
}

void tfs_ops_release_all(struct tfs_mount *m)
{
	while (m->fh_list)
		fh_free(m, m->fh_list);
}

static struct tfs_mount *mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ino <-> node id: FUSE's root is 1, our root node is 0. */
static const struct tfs_node *node_of(struct tfs_mount *m, fuse_ino_t ino)
{
	return ino >= 1 ? tfs_tree_node(m->tree, (uint32_t)(ino - 1)) : NULL;
}

static uint64_t node_size(struct tfs_mount *m, const struct tfs_node *n)
{
	switch (n->kind) {
	case TFS_NODE_TENSOR:
		return tfs_catalog_tensor(m->cat, n->ref)->length;
	case TFS_NODE_FILE:
		return tfs_catalog_file(m->cat, n->ref)->size;
	case TFS_NODE_VIRT:
		if (n->ref != TFS_VIRT_INDEX || tfs_virt_index_ensure(m) < 0)
			return 0;
		return m->index_len;
	default:
		return 0;
	}
}

static uint32_t node_file_mode(struct tfs_mount *m, const struct tfs_node *n)
{
	if (n->kind == TFS_NODE_TENSOR)
		return tfs_catalog_file(m->cat, tfs_catalog_tensor(m->cat, n->ref)->file)->mode;
	if (n->kind == TFS_NODE_FILE)
		return tfs_catalog_file(m->cat, n->ref)->mode;
	return 0444;
}

static void node_stat(struct tfs_mount *m, fuse_ino_t ino, const struct tfs_node *n, struct stat *st)
{
	int64_t ns = m->mtime_ns;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	if (n->kind == TFS_NODE_DIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		/* Read-only, and never more readable than the file it comes from: a 0600 shard stays
		 * private even under -o allow_other. */
		st->st_mode = S_IFREG | (node_file_mode(m, n) & 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)node_size(m, n);
		st->st_blksize = 1 << 20;
		st->st_blocks = (st->st_size + 511) / 512;
	}
	if (n->kind == TFS_NODE_TENSOR)
		ns = tfs_catalog_file(m->cat, tfs_catalog_tensor(m->cat, n->ref)->file)->mtime_ns;
	else if (n->kind == TFS_NODE_FILE)
		ns = tfs_catalog_file(m->cat, n->ref)->mtime_ns;
	st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = ns / 1000000000;
	st->st_mtim.tv_nsec = st->st_atim.tv_nsec = st->st_ctim.tv_nsec = ns % 1000000000;
}

void tfs_tune_readahead(struct tfs_mount *m)
{
	FILE *f;

	if (atomic_load(&m->ra_done) || atomic_exchange(&m->ra_done, 1) || !m->ra_path[0])
		return;
	f = fopen(m->ra_path, "we");
	if (!f || fprintf(f, "%llu\n", (unsigned long long)m->ra_kb) < 0 || fflush(f) != 0)
		tfs_log(m->log, "cannot set %s: %s (reads stay at the kernel's default readahead)",
			m->ra_path, strerror(errno));
	if (f)
		fclose(f);
}

static void tfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tfs_mount *m = mnt(req);
	struct fuse_entry_param e;
	int64_t id = node_of(m, parent) ? tfs_tree_lookup(m->tree, (uint32_t)(parent - 1), name) : -1;

	tfs_tune_readahead(m);
	if (id < 0)
		return (void)fuse_reply_err(req, ENOENT);
	memset(&e, 0, sizeof(e));
	e.ino = (fuse_ino_t)id + 1;
	e.attr_timeout = e.entry_timeout = m->timeout;
	node_stat(m, e.ino, tfs_tree_node(m->tree, (uint32_t)id), &e.attr);
	fuse_reply_entry(req, &e);
}

/* Inodes are the static tree's, so lookup counts need no bookkeeping; answering keeps them honest. */
static void tfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req);
}

static void tfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

static void tfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = node_of(m, ino);
	struct stat st;

	tfs_tune_readahead(m);
	if (!n)
		return (void)fuse_reply_err(req, ENOENT);
	node_stat(m, ino, n, &st);
	fuse_reply_attr(req, &st, m->timeout);
}

static void tfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = node_of(m, ino);
	struct tfs_fh *fh;

	tfs_tune_readahead(m);
	if (!n)
		return (void)fuse_reply_err(req, ENOENT);
	if (n->kind == TFS_NODE_DIR)
		return (void)fuse_reply_err(req, EISDIR);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return (void)fuse_reply_err(req, EROFS);
	fh = calloc(1, sizeof(*fh));
	if (!fh)
		return (void)fuse_reply_err(req, ENOMEM);
	if (n->kind == TFS_NODE_VIRT && n->ref == TFS_VIRT_STATS) {
		/* A snapshot per open, so a reader sees one consistent set of counters; direct_io
		 * because its size is not known in advance (like /proc). */
		if (tfs_virt_stats(m, &fh->snap, &fh->snap_len) < 0) {
			free(fh);
			return (void)fuse_reply_err(req, ENOMEM);
		}
		fi->direct_io = 1;
	} else {
		if (n->kind != TFS_NODE_VIRT && !(fh->stream = tfs_stream_open(m->engine))) {
			free(fh);
			return (void)fuse_reply_err(req, ENOMEM);
		}
		if (n->kind == TFS_NODE_TENSOR) {
			const struct tfs_tensor *t = tfs_catalog_tensor(m->cat, n->ref);
			tfs_stream_set_extent(fh->stream, t->file, t->offset, t->offset + t->length);
		}
		fi->keep_cache = 1; /* the checkpoint is immutable while mounted */
	}
	fi->noflush = 1;
	fi->fh = (uintptr_t)fh;
	atomic_fetch_add(&m->opens, 1);
	fh_link(m, fh);
	if (fuse_reply_open(req, fi) == -ENOENT) /* the opener was interrupted */
		fh_free(m, fh);
}

static void tfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tfs_fh *fh = (struct tfs_fh *)(uintptr_t)fi->fh;

	if (fh)
		fh_free(mnt(req), fh);
	fuse_reply_err(req, 0);
}

/* Where the bytes of a tensor or checkpoint-file node live: file index and offset in it. Returns
 * the size clamped to the node's end (0 at or past it). */
static size_t node_extent(struct tfs_mount *m, const struct tfs_node *n, size_t size, off_t off,
			  uint32_t *file, uint64_t *file_off)
{
	uint64_t len = node_size(m, n);

	if ((uint64_t)off >= len)
		return 0;
	if (size > len - (uint64_t)off)
		size = (size_t)(len - (uint64_t)off);
	if (n->kind == TFS_NODE_TENSOR) {
		const struct tfs_tensor *t = tfs_catalog_tensor(m->cat, n->ref);
		*file = t->file;
		*file_off = t->offset + (uint64_t)off;
	} else {
		*file = n->ref;
		*file_off = (uint64_t)off;
	}
	return size;
}

/* Reads [off, off+size) of a node into buf; returns bytes or -errno. */
static ssize_t node_read(struct tfs_mount *m, const struct tfs_node *n, struct tfs_fh *fh,
			 char *buf, size_t size, off_t off)
{
	struct tfs_error err;
	uint64_t len, file_off = 0;
	uint32_t file = 0;
	ssize_t r;

	if (n->kind == TFS_NODE_VIRT) {
		const char *src;
		if (n->ref == TFS_VIRT_INDEX && tfs_virt_index_ensure(m) < 0)
			return -EIO;
		src = n->ref == TFS_VIRT_INDEX ? m->index_json : fh->snap;
		len = n->ref == TFS_VIRT_INDEX ? m->index_len : fh->snap_len;
		if ((uint64_t)off >= len)
			return 0;
		size = size < len - (uint64_t)off ? size : (size_t)(len - (uint64_t)off);
		memcpy(buf, src + off, size);
		return (ssize_t)size;
	}
	size = node_extent(m, n, size, off, &file, &file_off);
	if (size == 0)
		return 0;
	r = tfs_engine_read(m->engine, fh ? fh->stream : NULL, file, file_off, buf, size, &err);
	if (r < 0) {
		tfs_log(m->log, "read of %s failed: %s", n->name, err.msg);
		return r;
	}
	if ((size_t)r != size) {
		tfs_log(m->log, "read of %s: %s ended early (%zd of %zu bytes)", n->name,
			tfs_catalog_file(m->cat, file)->path, r, size);
		return -EIO;
	}
	return r;
}

/*
 * The fast path: reply straight from the pinned cache blocks (one copy, into the kernel) instead of
 * copying into a buffer first. Returns 1 when it replied, 0 when the caller should use the copying
 * path (more blocks than fit in one reply's iovec, e.g. with tiny blocks).
 */
#define MAX_SPANS 16
static int read_pinned(struct tfs_mount *m, fuse_req_t req, const struct tfs_node *n,
		       struct tfs_fh *fh, size_t size, off_t off)
{
	struct tfs_span spans[MAX_SPANS];
	struct iovec iov[MAX_SPANS];
	struct tfs_error err;
	uint64_t file_off = 0;
	uint32_t file = 0;
	unsigned count;
	ssize_t r;

	size = node_extent(m, n, size, off, &file, &file_off);
	if (size == 0)
		return fuse_reply_buf(req, NULL, 0), 1;
	r = tfs_engine_read_pinned(m->engine, fh ? fh->stream : NULL, file, file_off, size, spans,
				   MAX_SPANS, &count, &err);
	if (r == -E2BIG)
		return 0;
	if (r < 0) {
		tfs_log(m->log, "read of %s failed: %s", n->name, err.msg);
		return fuse_reply_err(req, (int)-r), 1;
	}
	if ((size_t)r != size) {
		tfs_engine_release_spans(m->engine, spans, count);
		tfs_log(m->log, "read of %s: %s ended early (%zd of %zu bytes)", n->name,
			tfs_catalog_file(m->cat, file)->path, r, size);
		return fuse_reply_err(req, EIO), 1;
	}
	for (unsigned i = 0; i < count; i++) {
		iov[i].iov_base = (void *)spans[i].ptr;
		iov[i].iov_len = spans[i].len;
	}
	fuse_reply_iov(req, iov, (int)count); /* copies into the kernel before returning */
	tfs_engine_release_spans(m->engine, spans, count);
	return 1;
}

/*
 * With --splice: a range the kernel already holds in the shard's page cache goes to the reply by
 * splice (page cache -> pipe -> /dev/fuse), skipping the copy into a cache block. Returns 1 when it
 * replied. libfuse falls back to a read+copy by itself when its pipe cannot hold the reply.
 */
static int read_hot(struct tfs_mount *m, fuse_req_t req, const struct tfs_node *n, size_t size,
		    off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	struct tfs_error err;
	uint64_t file_off = 0;
	uint32_t file = 0;
	ssize_t r;
	int fd;

	size = node_extent(m, n, size, off, &file, &file_off);
	if (size == 0)
		return 0;
	r = tfs_engine_read_hot(m->engine, file, file_off, size, &fd, &err);
	if (r == 0)
		return 0;
	if (r < 0) {
		tfs_log(m->log, "read of %s failed: %s", n->name, err.msg);
		return fuse_reply_err(req, (int)-r), 1;
	}
	bv.buf[0].size = (size_t)r;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = (off_t)file_off;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
	return 1;
}

static void tfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = node_of(m, ino);
	char *buf;
	ssize_t r;

	if (!n || n->kind == TFS_NODE_DIR)
		return (void)fuse_reply_err(req, n ? EISDIR : ENOENT);
	if (n->kind != TFS_NODE_VIRT && m->splice && read_hot(m, req, n, size, off))
		return;
	if (n->kind != TFS_NODE_VIRT &&
	    read_pinned(m, req, n, (struct tfs_fh *)(uintptr_t)fi->fh, size, off))
		return;
	buf = malloc(size ? size : 1);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	r = node_read(m, n, (struct tfs_fh *)(uintptr_t)fi->fh, buf, size, off);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

static void tfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = node_of(m, ino);

	tfs_tune_readahead(m);
	if (!n)
		return (void)fuse_reply_err(req, ENOENT);
	if (n->kind != TFS_NODE_DIR)
		return (void)fuse_reply_err(req, ENOTDIR);
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void tfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = node_of(m, ino);
	char *buf;
	size_t used = 0;

	if (!n || n->kind != TFS_NODE_DIR)
		return (void)fuse_reply_err(req, n ? ENOTDIR : ENOENT);
	buf = malloc(size);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	/* Offsets: 0 ".", 1 "..", 2+i child i; each entry carries the offset of the next one. */
	for (off_t i = off; i < (off_t)n->n_children + 2; i++) {
		struct stat st = { 0 };
		const char *name;
		size_t len;

		if (i < 2) {
			name = i == 0 ? "." : "..";
			st.st_ino = i == 0 ? ino : n->parent + 1;
			st.st_mode = S_IFDIR;
		} else {
			uint32_t c = n->children[i - 2];
			const struct tfs_node *cn = tfs_tree_node(m->tree, c);
			name = cn->name;
			st.st_ino = c + 1;
			st.st_mode = cn->kind == TFS_NODE_DIR ? S_IFDIR : S_IFREG;
		}
		len = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void tfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct tfs_mount *m = mnt(req);
	struct statvfs sv;

	tfs_tune_readahead(m);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_blocks = (tfs_catalog_tensor_bytes(m->cat) + 4095) / 4096;
	sv.f_files = tfs_tree_count(m->tree);
	sv.f_namemax = TFS_NAME_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static int tensor_xxh3(struct tfs_mount *m, size_t i, uint64_t *out)
{
	const struct tfs_tensor *t = tfs_catalog_tensor(m->cat, i);
	const size_t chunk = 4 << 20;
	struct tfs_error err;
	XXH3_state_t *s;
	uint64_t done = 0;
	char *buf;
	int rc = 0;

	if (atomic_load(&m->xxh_state[i])) {
		*out = atomic_load(&m->xxh[i]);
		return 0;
	}
	buf = malloc(chunk);
	s = XXH3_createState();
	if (!buf || !s || XXH3_64bits_reset(s) != XXH_OK) {
		rc = -ENOMEM;
		goto out;
	}
	while (done < t->length) {
		size_t want = t->length - done < chunk ? (size_t)(t->length - done) : chunk;
		ssize_t r = tfs_engine_read(m->engine, NULL, t->file, t->offset + done, buf, want, &err);
		if (r != (ssize_t)want) {
			tfs_log(m->log, "xxh3 of %s: %s", t->key, r < 0 ? err.msg : "short read");
			rc = -EIO;
			goto out;
		}
		XXH3_64bits_update(s, buf, want);
		done += want;
	}
	*out = XXH3_64bits_digest(s);
	atomic_store(&m->xxh[i], *out);
	atomic_store(&m->xxh_state[i], 1);
out:
	XXH3_freeState(s);
	free(buf);
	return rc;
}

static const char *const xattr_names[] = { "user.tensorfs.dtype", "user.tensorfs.shape",
	"user.tensorfs.shard", "user.tensorfs.offset", "user.tensorfs.xxh3", "user.tensorfs.name" };
#define N_XATTRS (sizeof(xattr_names) / sizeof(xattr_names[0]))

/* Value of xattr `name` of a tensor into buf; returns its length or -errno. */
static ssize_t tensor_xattr(struct tfs_mount *m, size_t i, const char *name, char *buf, size_t cap)
{
	const struct tfs_tensor *t = tfs_catalog_tensor(m->cat, i);
	size_t len = 0;
	uint64_t h;
	int rc;

	if (strcmp(name, "user.tensorfs.dtype") == 0)
		return snprintf(buf, cap, "%s", tfs_dtype_name(t->dtype));
	if (strcmp(name, "user.tensorfs.shape") == 0) {
		buf[0] = '\0';
		for (uint32_t d = 0; d < t->ndim && len < cap; d++)
			len += (size_t)snprintf(buf + len, cap - len, d ? ",%" PRIu64 : "%" PRIu64, t->shape[d]);
		return (ssize_t)len;
	}
	if (strcmp(name, "user.tensorfs.shard") == 0)
		return snprintf(buf, cap, "%s", tfs_catalog_file(m->cat, t->file)->rel);
	if (strcmp(name, "user.tensorfs.offset") == 0)
		return snprintf(buf, cap, "%" PRIu64, t->offset);
	if (strcmp(name, "user.tensorfs.name") == 0)
		return snprintf(buf, cap, "%s", t->name);
	if (strcmp(name, "user.tensorfs.xxh3") == 0) {
		rc = tensor_xxh3(m, i, &h);
		return rc < 0 ? rc : snprintf(buf, cap, "%016" PRIx64, h);
	}
	return -ENODATA;
}

static void tfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = node_of(m, ino);
	char val[8192];
	ssize_t len;

	if (!n)
		return (void)fuse_reply_err(req, ENOENT);
	if (n->kind != TFS_NODE_TENSOR)
		return (void)fuse_reply_err(req, ENODATA);
	len = tensor_xattr(m, n->ref, name, val, sizeof(val));
	if (len < 0)
		return (void)fuse_reply_err(req, (int)-len);
	if ((size_t)len >= sizeof(val))
		return (void)fuse_reply_err(req, E2BIG);
	if (size == 0)
		return (void)fuse_reply_xattr(req, (size_t)len);
	if (size < (size_t)len)
		return (void)fuse_reply_err(req, ERANGE);
	fuse_reply_buf(req, val, (size_t)len);
}

static void tfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = node_of(m, ino);
	char list[256];
	size_t len = 0;

	if (!n)
		return (void)fuse_reply_err(req, ENOENT);
	for (size_t i = 0; n->kind == TFS_NODE_TENSOR && i < N_XATTRS; i++) {
		memcpy(list + len, xattr_names[i], strlen(xattr_names[i]) + 1);
		len += strlen(xattr_names[i]) + 1;
	}
	if (size == 0)
		return (void)fuse_reply_xattr(req, len);
	if (size < len)
		return (void)fuse_reply_err(req, ERANGE);
	fuse_reply_buf(req, list, len);
}

/* Everything that would change the tree or its bytes. The mount is also made with -o ro, so the
 * kernel usually answers these first; these replies are the second line. */
static void tfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_mknod(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_mkdir(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_unlink(fuse_req_t req, fuse_ino_t p, const char *name)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_symlink(fuse_req_t req, const char *link, fuse_ino_t p, const char *name)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_rename(fuse_req_t req, fuse_ino_t p, const char *name, fuse_ino_t np,
		       const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *newname)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_create(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}
static void tfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void tfs_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Fewer, larger requests for streaming reads (shared/FUSE-NOTES.md 1-2). */
	conn->max_background = 64;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	if (((struct tfs_mount *)userdata)->splice && (conn->capable & FUSE_CAP_SPLICE_WRITE))
		conn->want |= FUSE_CAP_SPLICE_WRITE | (conn->capable & FUSE_CAP_SPLICE_MOVE);
}

static const struct fuse_lowlevel_ops ops = {
	.init = tfs_init,
	.lookup = tfs_lookup,
	.forget = tfs_forget,
	.forget_multi = tfs_forget_multi,
	.getattr = tfs_getattr,
	.setattr = tfs_setattr,
	.mknod = tfs_mknod,
	.mkdir = tfs_mkdir,
	.unlink = tfs_unlink,
	.rmdir = tfs_unlink,
	.symlink = tfs_symlink,
	.rename = tfs_rename,
	.link = tfs_link,
	.open = tfs_open,
	.read = tfs_read,
	.write = tfs_write,
	.release = tfs_release,
	.opendir = tfs_opendir,
	.readdir = tfs_readdir,
	.statfs = tfs_statfs,
	.setxattr = tfs_setxattr,
	.getxattr = tfs_getxattr,
	.listxattr = tfs_listxattr,
	.removexattr = tfs_removexattr,
	.create = tfs_create,
};

const struct fuse_lowlevel_ops *tfs_ops(void)
{
	return &ops;
}
