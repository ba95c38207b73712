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

#include "error.h"
#include "log.h"
#include "mount.h"
#include "npy.h"
#include "xattr.h"

/* Per open file: the engine stream (readahead state); NULL for virtual files. */
struct tfs_fh {
	struct tfs_stream *stream;
	struct tfs_list link;         /* on m->fh_list, under m->fh_lock */
	uint32_t pt_file;             /* 1 + the checkpoint file of a handle counted in m->pt_live
				       * (opened through the daemon), else 0 */
};

static void fh_link(struct tfs_mount *m, struct tfs_fh *fh)
{
	pthread_mutex_lock(&m->fh_lock);
	tfs_list_push_front(&m->fh_list, &fh->link);
	pthread_mutex_unlock(&m->fh_lock);
}

/* Unlinks and frees a handle. */
static void fh_free(struct tfs_mount *m, struct tfs_fh *fh)
{
	pthread_mutex_lock(&m->fh_lock);
	tfs_list_remove(&fh->link);
	pthread_mutex_unlock(&m->fh_lock);
	tfs_stream_close(fh->stream);
	if (fh->pt_file)
		tfs_pt_close(m, fh->pt_file - 1);
	free(fh);
}

void tfs_ops_release_all(struct tfs_mount *m)
{
	struct tfs_list *l;

	while ((l = tfs_list_first(&m->fh_list)))
		fh_free(m, tfs_list_entry(l, struct tfs_fh, link));
}

static struct tfs_mount *mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* .tensorfs/stats always has this size: its JSON (under 4.4 KB) padded with spaces and a newline. */
#define TFS_STATS_SIZE 8192

/* Takes a new snapshot of the stats as the mount's current one (m->stats_snap). Reads copy out of
 * it under m->stats_lock: with the page cache in play (no direct_io, so mmap works) a read may
 * reach us on a handle other than the one just opened, or as that one is released, so nothing of
 * it may live in a handle. */
static int stats_snapshot(struct tfs_mount *m)
{
	char *text, *pad, *old;
	size_t len;

	if (tfs_virt_stats(m, &text, &len) < 0)
		return -ENOMEM;
	pad = malloc(TFS_STATS_SIZE);
	if (!pad || len >= TFS_STATS_SIZE) {
		free(text);
		free(pad);
		return -ENOMEM;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	memcpy(pad, text, len);
	memset(pad + len, ' ', TFS_STATS_SIZE - len - 1);
	pad[TFS_STATS_SIZE - 1] = '\n';
	free(text);
	pthread_mutex_lock(&m->stats_lock);
	old = m->stats_snap;
	m->stats_snap = pad;
	pthread_mutex_unlock(&m->stats_lock);
	free(old);
	return 0;
}

/* Bytes before a node's data: the NPY header of a tensor in the npy view, else none. */
static uint64_t node_head(struct tfs_mount *m, const struct tfs_node *n)
{
	if (!m->npy || n->kind != TFS_NODE_TENSOR)
		return 0;
	return tfs_npy_header_len(tfs_catalog_tensor(m->cat, n->ref));
}

/* Bytes of the node's data: the tensor or checkpoint file, or the virtual file. */
static uint64_t node_data_size(struct tfs_mount *m, const struct tfs_node *n)
{
	switch (n->kind) {
	case TFS_NODE_TENSOR:
		return tfs_catalog_tensor(m->cat, n->ref)->length;
	case TFS_NODE_FILE:
		return tfs_catalog_file(m->cat, n->ref)->size;
	case TFS_NODE_VIRT:
		if (n->ref == TFS_VIRT_STATS)
			return TFS_STATS_SIZE;
		if (n->ref == TFS_VIRT_METADATA)
			return strlen(tfs_catalog_metadata_json(m->cat));
		if (tfs_virt_index_ensure(m) < 0)
			return 0;
		return m->index_len;
	default:
		return 0;
	}
}

static uint64_t node_size(struct tfs_mount *m, const struct tfs_node *n)
{
	return node_head(m, n) + node_data_size(m, n);
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
	int64_t id = tfs_node_of(m, parent) ? tfs_tree_lookup(m->tree, (uint32_t)(parent - 1), name) : -1;

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
	const struct tfs_node *n = tfs_node_of(m, ino);
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
	const struct tfs_node *n = tfs_node_of(m, ino);
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
		/* A fresh snapshot at each open, so a reader sees one consistent set of counters,
		 * padded with spaces to the size stat() shows: tar, rsync and mmap copy st_size bytes
		 * (a /proc-like size 0 gave them nothing). No keep_cache: each open drops the last
		 * one's pages. */
		if (stats_snapshot(m) < 0) {
			free(fh);
			return (void)fuse_reply_err(req, ENOMEM);
		}
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
		/* One copy: the reply lands in the reader's buffer, not in this mount's page cache
		 * first. mmap still goes through the page cache (FUSE_DIRECT_IO_ALLOW_MMAP). Tensor
		 * files only: their readers take a tensor in a few large reads, while checkpoint
		 * files are read by tools in 128 KiB pieces (cat, cp, sha256sum), which direct_io
		 * would turn into as many serial round trips; the kernel's readahead of the page
		 * cache makes them 1 MiB requests in parallel. */
		if (m->direct_io && n->kind == TFS_NODE_TENSOR)
			fi->direct_io = 1;
		if (n->kind == TFS_NODE_FILE) {
			/* The kernel reads the shard itself, or asks us (passthrough.c). */
			int32_t id = tfs_pt_open(m, req, n->ref);

			if (id > 0) {
#ifdef FUSE_CAP_PASSTHROUGH
				fi->backing_id = id;
#endif
				fi->keep_cache = 0;
			} else {
				fh->pt_file = n->ref + 1;
			}
		}
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

/* Where the bytes of a tensor or checkpoint-file node live: file index and offset in it, for a
 * read at `off` of its data (past any NPY header). Returns the size clamped to the data's end (0
 * at or past it). */
static size_t node_extent(struct tfs_mount *m, const struct tfs_node *n, size_t size, uint64_t off,
			  uint32_t *file, uint64_t *file_off)
{
	uint64_t len = node_data_size(m, n);

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

/* One read of a tensor or checkpoint file, resolved to its file: the three ways to answer it
 * (splice, pinned blocks, copy) take the same description. */
struct rd {
	struct tfs_mount *m;
	fuse_req_t req;
	const struct tfs_node *n;
	struct tfs_stream *stream;   /* the handle's readahead state, or NULL */
	uint32_t file;
	uint64_t off;                /* in the file */
	size_t size;                 /* clamped to the node's end, > 0 */
};

/* Replies to a failed (r < 0) or short engine read with an error, logging the file and why. */
static void reply_read_error(const struct rd *rd, ssize_t r, const struct tfs_error *err)
{
	if (r >= 0) {
		tfs_log(rd->m->log, "read of %s: %s ended early (%zd of %zu bytes)", rd->n->name,
			tfs_catalog_file(rd->m->cat, rd->file)->path, r, rd->size);
		r = -EIO;
	} else {
		tfs_log(rd->m->log, "read of %s failed: %s", rd->n->name, err->msg);
	}
	fuse_reply_err(rd->req, (int)-r);
}

/*
 * With --splice: a range the kernel already holds in the shard's page cache goes to the reply by
 * splice (page cache -> pipe -> /dev/fuse), skipping the copy into a cache block. Returns 1 when it
 * replied. libfuse falls back to a read+copy by itself when its pipe cannot hold the reply.
 * FUSE_BUF_FD_RETRY: storage may answer splice and pread in short counts (network and FUSE
 * filesystems do); without it libfuse stops after the first call and sends a short reply, which
 * the kernel takes as end of file and shrinks the file to (t_short_reads.sh).
 */
static int reply_hot(const struct rd *rd)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	struct tfs_error err;
	ssize_t r;
	int fd;

	r = tfs_engine_read_hot(rd->m->engine, rd->file, rd->off, rd->size, &fd, &err);
	if (r == 0)
		return 0;
	if (r != (ssize_t)rd->size) {
		if (r > 0)
			tfs_engine_hot_done(rd->m->engine, rd->file);
		return reply_read_error(rd, r, &err), 1;
	}
	bv.buf[0].size = (size_t)r;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = (off_t)rd->off;
	fuse_reply_data(rd->req, &bv, FUSE_BUF_SPLICE_MOVE);
	tfs_engine_hot_done(rd->m->engine, rd->file); /* fd is read until the reply is sent */
	return 1;
}

/*
 * The usual path: reply straight from the pinned cache blocks (one copy, into the kernel) instead
 * of copying into a buffer first. Returns 1 when it replied, 0 when the range spans more blocks
 * than one reply's iovec holds (tiny blocks): then reply_copied() answers.
 */
#define MAX_SPANS 16
static int reply_pinned(const struct rd *rd)
{
	struct tfs_span spans[MAX_SPANS];
	struct iovec iov[MAX_SPANS];
	struct tfs_error err;
	unsigned count;
	ssize_t r;

	r = tfs_engine_read_pinned(rd->m->engine, rd->stream, rd->file, rd->off, rd->size, spans,
				   MAX_SPANS, &count, &err);
	if (r == -E2BIG)
		return 0;
	if (r != (ssize_t)rd->size) {
		if (r >= 0)
			tfs_engine_release_spans(rd->m->engine, spans, count);
		return reply_read_error(rd, r, &err), 1;
	}
	for (unsigned i = 0; i < count; i++) {
		iov[i].iov_base = (void *)spans[i].ptr;
		iov[i].iov_len = spans[i].len;
	}
	fuse_reply_iov(rd->req, iov, (int)count); /* copies into the kernel before returning */
	tfs_engine_release_spans(rd->m->engine, spans, count);
	return 1;
}

static void reply_copied(const struct rd *rd)
{
	char *buf = malloc(rd->size);
	struct tfs_error err;
	ssize_t r;

	if (!buf)
		return (void)fuse_reply_err(rd->req, ENOMEM);
	r = tfs_engine_read(rd->m->engine, rd->stream, rd->file, rd->off, buf, rd->size, &err);
	if (r != (ssize_t)rd->size)
		reply_read_error(rd, r, &err);
	else
		fuse_reply_buf(rd->req, buf, rd->size);
	free(buf);
}

/* .tensorfs/index.json (built on first use), metadata.json (the catalog's), or the open handle's
 * snapshot of stats. */
static void reply_virt(struct tfs_mount *m, fuse_req_t req, const struct tfs_node *n,
		       const struct tfs_fh *fh, size_t size, off_t off)
{
	const char *src;
	char *copy;
	size_t len;

	if (n->ref == TFS_VIRT_STATS) {
		char buf[TFS_STATS_SIZE];

		if ((uint64_t)off >= TFS_STATS_SIZE)
			return (void)fuse_reply_buf(req, NULL, 0);
		len = size < TFS_STATS_SIZE - (size_t)off ? size : TFS_STATS_SIZE - (size_t)off;
		pthread_mutex_lock(&m->stats_lock);
		if (m->stats_snap)
			memcpy(buf, m->stats_snap + off, len);
		else
			memset(buf, ' ', len); /* read before any open: cannot happen */
		pthread_mutex_unlock(&m->stats_lock);
		return (void)fuse_reply_buf(req, buf, len);
	}
	if (n->ref == TFS_VIRT_INDEX && tfs_virt_index_ensure(m) < 0)
		return (void)fuse_reply_err(req, EIO);
	src = m->index_json;
	len = m->index_len;
	if (n->ref == TFS_VIRT_METADATA) {
		src = tfs_catalog_metadata_json(m->cat);
		len = strlen(src);
	}
	if ((uint64_t)off >= len)
		return (void)fuse_reply_buf(req, NULL, 0);
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	if (n->ref == TFS_VIRT_INDEX)
		return (void)fuse_reply_buf(req, src + off, size); /* the mount's: lives to unmount */
	/* The handle's snapshot: the kernel ends the read as soon as the reply is copied, and the
	 * reader's close may free the handle on another thread while fuse_reply_buf is still
	 * returning (ASan's writev check reads the buffer after the syscall). Reply from a copy. */
	copy = malloc(size);
	if (!copy)
		return (void)fuse_reply_err(req, ENOMEM);
	memcpy(copy, src + off, size);
	fuse_reply_buf(req, copy, size);
	free(copy);
}

/*
 * A read that starts inside the NPY header of the npy view: the header's part is synthesized, the
 * rest (when the read runs on into the data) comes through the engine, in one buffer.
 */
static void reply_npy_head(const struct rd *rd, uint64_t head, size_t size, uint64_t off)
{
	const struct tfs_tensor *t = tfs_catalog_tensor(rd->m->cat, rd->n->ref);
	size_t total = (size_t)(head + t->length - off < size ? head + t->length - off : size);
	size_t from_head = (size_t)(head - off) < total ? (size_t)(head - off) : total;
	char *hdr = malloc(head + 1), *buf = malloc(total ? total : 1);
	struct tfs_error err;
	struct rd data = *rd;
	ssize_t r;

	if (!hdr || !buf || tfs_npy_header(t, hdr, head + 1) != head) {
		fuse_reply_err(rd->req, ENOMEM);
		goto out;
	}
	memcpy(buf, hdr + off, from_head);
	if (total > from_head) {
		data.size = node_extent(rd->m, rd->n, total - from_head, 0, &data.file, &data.off);
		r = tfs_engine_read(rd->m->engine, rd->stream, data.file, data.off, buf + from_head,
				    data.size, &err);
		if (r != (ssize_t)data.size) {
			reply_read_error(&data, r, &err);
			goto out;
		}
	}
	fuse_reply_buf(rd->req, buf, total);
out:
	free(hdr);
	free(buf);
}

static void tfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = tfs_node_of(m, ino);
	struct tfs_fh *fh = (struct tfs_fh *)(uintptr_t)fi->fh;
	struct rd rd = { .m = m, .req = req, .n = n, .stream = fh ? fh->stream : NULL };
	uint64_t head;

	if (!n || n->kind == TFS_NODE_DIR)
		return (void)fuse_reply_err(req, n ? EISDIR : ENOENT);
	if (n->kind == TFS_NODE_VIRT)
		return reply_virt(m, req, n, fh, size, off);
	head = node_head(m, n);
	if ((uint64_t)off < head)
		return reply_npy_head(&rd, head, size, (uint64_t)off);
	rd.size = node_extent(m, n, size, (uint64_t)off - head, &rd.file, &rd.off);
	if (rd.size == 0)
		return (void)fuse_reply_buf(req, NULL, 0);
	if (m->splice && reply_hot(&rd))
		return;
	if (!reply_pinned(&rd))
		reply_copied(&rd);
}

static void tfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = tfs_node_of(m, ino);

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
	const struct tfs_node *n = tfs_node_of(m, ino);
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

/* --kernel-copy one: direct_io opens are only safe when the kernel keeps shared mmap of them
 * working, which needs FUSE_DIRECT_IO_ALLOW_MMAP (kernel 6.6+) asked for through libfuse 3.17+. */
static void init_kernel_copy(struct tfs_mount *m, struct fuse_conn_info *conn)
{
	m->direct_io = 0;
	m->copy_note = NULL;
	if (m->kernel_copy != 1)
		return;
#ifdef FUSE_CAP_DIRECT_IO_ALLOW_MMAP
	if (conn->capable & FUSE_CAP_DIRECT_IO_ALLOW_MMAP) {
		conn->want |= FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
		m->direct_io = 1;
		return;
	}
	m->copy_note = "kernel lacks FUSE_DIRECT_IO_ALLOW_MMAP (needs 6.6+)";
#else
	m->copy_note = "built against libfuse < 3.17 (run scripts/build-libfuse.sh, then rebuild)";
#endif
	tfs_log(m->log, "--kernel-copy one: %s; using two copies (page cache) so mmap keeps working",
		m->copy_note);
}

static void tfs_init(void *userdata, struct fuse_conn_info *conn)
{
	init_kernel_copy(userdata, conn);
	tfs_pt_init(userdata, conn);
	/* Fewer, larger requests for streaming reads (docs/FUSE-NOTES.md 1-2). */
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
