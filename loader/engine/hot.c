/*
 * hot.c - ranges the kernel already holds. When a shard's bytes are in the page cache, reading them
 * into a cache block costs a copy plus fresh pages, and buys nothing the page cache does not already
 * give. tfs_engine_read_hot() hands such a range to the caller as (descriptor, offset) so a FUSE
 * reply can splice it from the page cache without passing through user space; a range that is not
 * fully resident goes through the cache as usual (parallel reads, readahead, budget).
 * tfs_engine_read_uncached() is the same rule for a caller with its own buffer (the device
 * loader): one copy from the page cache into it instead of a copy into a fresh cache block and
 * another out, and likewise for a remote source, whose bytes arrive through a copy anyway.
 *
 * Residency is the byte source's answer (tfs_source_splice_fd); a source that cannot tell, or a
 * kernel without cachestat(2), always declines.
 */
#include <errno.h>
#include <inttypes.h>

#include "engine/engine.h"
#include "error.h"
#include "io/source.h"

/* 1 when [off, off + *len) names bytes of `file`, *len then clamped to its end; 0 when it names
 * none (a bad index, an empty range, past the end): the cached read reports those. */
static int in_file(const struct tfs_engine *e, uint32_t file, uint64_t off, size_t *len)
{
	const struct tfs_file *f;

	if (file >= e->n_files)
		return 0;
	f = e->files[file];
	if (off >= f->size || *len == 0)
		return 0;
	if (*len > f->size - off)
		*len = (size_t)(f->size - off);
	return 1;
}

ssize_t tfs_engine_read_hot(struct tfs_engine *e, uint32_t file, uint64_t off, size_t len, int *fd,
			    struct tfs_error *err)
{
	struct tfs_source *src;
	uint64_t bs = e->bs;
	int rc;

	if (!in_file(e, file, off, &len))
		return 0;
	/* Blocks already in our cache are as cheap to reply from, and keep their LRU place. */
	if (tfs_cache_resident(e->cache, file, off / bs) ||
	    tfs_cache_resident(e->cache, file, (off + len - 1) / bs))
		return 0;
	rc = tfs_reader_hold_source(e->reader, file, &src, err);
	if (rc < 0) {
		atomic_fetch_add(&e->errors, 1);
		return rc;
	}
	rc = tfs_source_splice_fd(src, off, len);
	if (rc < 0) {
		tfs_reader_put_source(e->reader, file);
		return 0;
	}
	*fd = rc;
	/* Same rule as every read: a file that changed is never served. */
	rc = tfs_reader_check_file(e->reader, file, err);
	if (rc < 0) {
		tfs_reader_put_source(e->reader, file);
		atomic_fetch_add(&e->errors, 1);
		return rc;
	}
	atomic_fetch_add(&e->reads, 1);
	atomic_fetch_add(&e->bytes_served, len);
	atomic_fetch_add(&e->bytes_hot, len);
	tfs_engine_note_read(e, file, off, len);
	return (ssize_t)len;
}

int tfs_engine_whole_hot(struct tfs_engine *e, uint32_t file, int *fd, struct tfs_error *err)
{
	struct tfs_source *src;
	int rc;

	if (file >= e->n_files)
		return tfs_error_set(err, -EINVAL, "file index %" PRIu32 " out of range (%zu files)",
				     file, (size_t)e->n_files);
	if (e->files[file]->size == 0)
		return 0;
	rc = tfs_reader_hold_source(e->reader, file, &src, err);
	if (rc < 0)
		return rc;
	rc = tfs_source_splice_fd(src, 0, e->files[file]->size);
	if (rc < 0) {
		tfs_reader_put_source(e->reader, file);
		return 0;
	}
	*fd = rc;
	rc = tfs_reader_check_file(e->reader, file, err);
	if (rc < 0) {
		tfs_reader_put_source(e->reader, file);
		return rc;
	}
	return 1;
}

void tfs_engine_hot_done(struct tfs_engine *e, uint32_t file)
{
	tfs_reader_put_source(e->reader, file); /* the source, and so *fd, may be recycled now */
}

ssize_t tfs_engine_read_uncached(struct tfs_engine *e, uint32_t file, uint64_t off, void *buf,
				 size_t len, struct tfs_error *err)
{
	ssize_t n;
	int rc;

	if (!in_file(e, file, off, &len))
		return -EAGAIN;
	rc = tfs_reader_check_file(e->reader, file, err);
	n = rc < 0 ? rc : tfs_reader_read_into(e->reader, file, off, buf, len, err);
	if (n == -EAGAIN)
		return n;
	if (n < 0) {
		atomic_fetch_add(&e->errors, 1);
		return n;
	}
	atomic_fetch_add(&e->reads, 1);
	atomic_fetch_add(&e->bytes_served, (uint64_t)n);
	tfs_engine_note_read(e, file, off, len);
	return n;
}
