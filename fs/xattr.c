/*
 * xattr.c - the extended attributes of tensor files (user.tensorfs.dtype, .shape, .shard, .offset,
 * .xxh3, .name; .block for ggml block types; .npy in the npy view): getxattr and listxattr of the
 * FUSE ops table. The XXH3 digest is computed through
 * the engine on first request and then kept in the mount (m->xxh).
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "log.h"
#include "mount.h"
#include "npy.h"
#include "xattr.h"

static struct tfs_mount *mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Hashes tensor i through the engine. A client killed or interrupted meanwhile sends FUSE an
 * INTERRUPT: the hash stops at the next chunk with -EINTR (nothing kept), so the client is not held
 * in D state for a huge tensor and unmount does not wait for it. */
static int tensor_xxh3(struct tfs_mount *m, fuse_req_t req, size_t i, uint64_t *out)
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
		ssize_t r;

		if (req && fuse_req_interrupted(req)) {
			tfs_log(m->log, "xxh3 of %s: interrupted by the client after %" PRIu64 " of %"
				PRIu64 " bytes", t->key, done, t->length);
			rc = -EINTR;
			goto out;
		}
		r = tfs_engine_read(m->engine, NULL, t->file, t->offset + done, buf, want, &err);
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
	"user.tensorfs.shard", "user.tensorfs.offset", "user.tensorfs.xxh3", "user.tensorfs.name",
	"user.tensorfs.block", "user.tensorfs.npy" };
#define N_XATTRS (sizeof(xattr_names) / sizeof(xattr_names[0]))

/* Whether tensor t has xattr i: .block only for ggml block types, .npy only in the npy view. */
static int has_xattr(const struct tfs_mount *m, const struct tfs_tensor *t, size_t i)
{
	uint32_t be, bb;

	if (strcmp(xattr_names[i], "user.tensorfs.block") == 0)
		return tfs_dtype_block(t->dtype, &be, &bb);
	if (strcmp(xattr_names[i], "user.tensorfs.npy") == 0)
		return m->npy;
	return 1;
}

/* Value of xattr `name` of a tensor into buf; returns its length or -errno. */
static ssize_t tensor_xattr(struct tfs_mount *m, fuse_req_t req, size_t i, const char *name,
			    char *buf, size_t cap)
{
	const struct tfs_tensor *t = tfs_catalog_tensor(m->cat, i);
	size_t len = 0;
	uint64_t h;
	int rc;

	if (strcmp(name, "user.tensorfs.dtype") == 0)
		return snprintf(buf, cap, "%s", tfs_dtype_name(t->dtype));
	if (strcmp(name, "user.tensorfs.shape") == 0) {
		buf[0] = '\0';
		/* Counts on past the buffer, as snprintf does, so the caller learns the full length. */
		for (uint32_t d = 0; d < t->ndim; d++)
			len += (size_t)snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0,
						d ? ",%" PRIu64 : "%" PRIu64, t->shape[d]);
		return (ssize_t)len;
	}
	if (strcmp(name, "user.tensorfs.shard") == 0)
		return snprintf(buf, cap, "%s", tfs_catalog_file(m->cat, t->file)->rel);
	if (strcmp(name, "user.tensorfs.offset") == 0)
		return snprintf(buf, cap, "%" PRIu64, t->offset);
	if (strcmp(name, "user.tensorfs.name") == 0)
		return snprintf(buf, cap, "%s", t->name);
	if (strcmp(name, "user.tensorfs.block") == 0) {
		uint32_t be, bb;
		if (!tfs_dtype_block(t->dtype, &be, &bb))
			return -ENODATA;
		return snprintf(buf, cap, "%u,%u", be, bb);   /* elements, bytes per block */
	}
	if (strcmp(name, "user.tensorfs.npy") == 0) {
		const char *standin, *descr = tfs_npy_descr(t->dtype, &standin);
		char shape[512];
		if (!m->npy)
			return -ENODATA;
		tfs_npy_shape(t, shape, sizeof(shape));
		if (standin)
			return snprintf(buf, cap, "%s %s stand-in: %s", descr, shape, standin);
		return snprintf(buf, cap, "%s %s", descr, shape);
	}
	if (strcmp(name, "user.tensorfs.xxh3") == 0) {
		rc = tensor_xxh3(m, req, i, &h);
		return rc < 0 ? rc : snprintf(buf, cap, "%016" PRIx64, h);
	}
	return -ENODATA;
}

void tfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = tfs_node_of(m, ino);
	char small[512], *val = small, *big = NULL;
	ssize_t len, need;

	if (!n)
		return (void)fuse_reply_err(req, ENOENT);
	if (n->kind != TFS_NODE_TENSOR)
		return (void)fuse_reply_err(req, ENODATA);
	len = tensor_xattr(m, req, n->ref, name, small, sizeof(small));
	if (len >= (ssize_t)sizeof(small)) { /* a long name: values are cheap to make twice */
		big = malloc((size_t)len + 1);
		if (!big)
			return (void)fuse_reply_err(req, ENOMEM);
		val = big;
		need = len;
		len = tensor_xattr(m, req, n->ref, name, big, (size_t)need + 1);
		if (len > need)
			len = -E2BIG; /* cannot happen: the value is the same both times */
	}
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if (size < (size_t)len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, (size_t)len);
	free(big);
}

void tfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct tfs_mount *m = mnt(req);
	const struct tfs_node *n = tfs_node_of(m, ino);
	char list[256];
	size_t len = 0;

	if (!n)
		return (void)fuse_reply_err(req, ENOENT);
	for (size_t i = 0; n->kind == TFS_NODE_TENSOR && i < N_XATTRS; i++) {
		if (!has_xattr(m, tfs_catalog_tensor(m->cat, n->ref), i))
			continue;
		memcpy(list + len, xattr_names[i], strlen(xattr_names[i]) + 1);
		len += strlen(xattr_names[i]) + 1;
	}
	if (size == 0)
		return (void)fuse_reply_xattr(req, len);
	if (size < len)
		return (void)fuse_reply_err(req, ERANGE);
	fuse_reply_buf(req, list, len);
}

