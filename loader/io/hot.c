/*
 * hot.c - ranges the kernel already holds. When a shard's bytes are in the page cache, reading them
 * into a cache block costs a copy plus fresh pages, and buys nothing the page cache does not already
 * give. tfs_engine_read_hot() hands such a range to the caller as (descriptor, offset) so a FUSE
 * reply can splice it from the page cache without passing through user space; a range that is not
 * fully resident goes through the cache as usual (parallel reads, readahead, budget).
 *
 * Residency comes from cachestat(2) (Linux 6.5). Without it the function always declines.
 */
#include <errno.h>
#include <inttypes.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine.h"
#include "error.h"

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

/* The kernel's ABI for cachestat(2) (include/uapi/linux/mman.h), not in Debian 12's headers. */
struct tfs_cachestat_range {
	uint64_t off, len;
};
struct tfs_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

/* 1 when every page of [off, off+len) of fd is in the page cache; 0 when not; -1 when the kernel
 * cannot tell. */
static int resident(int fd, uint64_t off, uint64_t len)
{
	const uint64_t page = 4096;
	struct tfs_cachestat_range r = { off / page * page, 0 };
	struct tfs_cachestat cs;

	r.len = (off + len + page - 1) / page * page - r.off;
	if (syscall(SYS_cachestat, fd, &r, &cs, 0) < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP ? -1 : 0;
	return cs.nr_cache * page >= r.len;
}

ssize_t tfs_engine_read_hot(struct tfs_engine *e, uint32_t file, uint64_t off, size_t len, int *fd,
			    struct tfs_error *err)
{
	const struct tfs_file *f;
	uint64_t bs = e->bs;
	int rc;

	if (file >= e->n_files || atomic_load(&e->no_cachestat))
		return 0;
	f = e->files[file];
	if (off >= f->size || len == 0)
		return 0;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	/* Blocks already in our cache are as cheap to reply from, and keep their LRU place. */
	if (tfs_cache_resident(e->cache, file, off / bs) ||
	    tfs_cache_resident(e->cache, file, (off + len - 1) / bs))
		return 0;
	rc = tfs_reader_hold_fd(e->reader, file, err);
	if (rc < 0) {
		atomic_fetch_add(&e->errors, 1);
		return rc;
	}
	*fd = rc;
	rc = resident(*fd, off, len);
	if (rc < 0)
		atomic_store(&e->no_cachestat, 1);
	if (rc <= 0) {
		tfs_reader_put_fd(e->reader, file);
		return 0;
	}
	/* Same rule as every read: a file that changed is never served. */
	rc = tfs_reader_check_file(e->reader, file, err);
	if (rc < 0) {
		tfs_reader_put_fd(e->reader, file);
		atomic_fetch_add(&e->errors, 1);
		return rc;
	}
	atomic_fetch_add(&e->reads, 1);
	atomic_fetch_add(&e->bytes_served, len);
	atomic_fetch_add(&e->bytes_hot, len);
	return (ssize_t)len;
}

void tfs_engine_hot_done(struct tfs_engine *e, uint32_t file)
{
	tfs_reader_put_fd(e->reader, file);
}
