/*
 * fdcache.h - the descriptors of the checkpoint files, opened on first use and recycled.
 *
 * A folder may hold more files than the process may keep open (10,000 shards under the usual
 * `ulimit -n 1024`), and every file kept open twice (buffered + O_DIRECT) would also starve the
 * FUSE session of its own descriptors. So a file is opened when a read first needs it, and at most
 * `max_open` files stay open: the least recently used unheld one is closed to make room, and
 * opened again when needed. A held file (between get and put) is never closed, so the cap may be
 * exceeded by the files held at once (at most one per reader thread and per reply in flight).
 *
 * Reopening is safe: each open checks the new descriptor against the catalog's view (same inode,
 * size, mtime; filecheck.h) and against the ctime seen at the file's first open, so a file
 * replaced or written while it was closed is refused (-EIO), never read.
 *
 * Locking: fdcache->lock guards every entry's descriptors, hold count and LRU link, and the open
 * count. open(2) runs under it (opens are rare: once per file unless the cap recycles).
 * Ownership: tfs_fdcache_open hands the caller one cache, released by tfs_fdcache_close.
 */
#ifndef TFS_FDCACHE_H
#define TFS_FDCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "tensorfs.h"

struct tfs_fdcache;

/* Descriptors of one file while held: fd always; dfd (O_DIRECT, same inode) or -1. */
struct tfs_fds {
	int fd, dfd;
};

/*
 * A cache over files[0..n) (kept by pointer: they must outlive it) keeping at most max_open files
 * open (0: from RLIMIT_NOFILE, see tfs_fdcache_default_max). Opens nothing yet. 0 or -ENOMEM.
 */
int tfs_fdcache_open(const struct tfs_file *const *files, size_t n, unsigned max_open,
		     struct tfs_fdcache **out, struct tfs_error *err);
/* Closes every descriptor; nothing may be held. Accepts NULL; cannot fail. */
void tfs_fdcache_close(struct tfs_fdcache *c);

/* Files opened from now on also get an O_DIRECT descriptor where the filesystem allows it. */
void tfs_fdcache_enable_direct(struct tfs_fdcache *c);

/*
 * Holds `file` open and gives its descriptors, valid until tfs_fdcache_put. 0, or -errno naming
 * the file: it will not open (EMFILE names the limit), or it is not the file the catalog saw
 * (-EIO). On error nothing is held.
 */
int tfs_fdcache_get(struct tfs_fdcache *c, uint32_t file, struct tfs_fds *out,
		    struct tfs_error *err);
void tfs_fdcache_put(struct tfs_fdcache *c, uint32_t file);

/* A read of `file` refused O_DIRECT (EINVAL): its direct descriptor is dropped for good. */
void tfs_fdcache_no_direct(struct tfs_fdcache *c, uint32_t file);

/* 0 when `file` is still the one the catalog saw (filecheck.h, on a held descriptor), else -EIO
 * naming the file and the change. Thread-safe. */
int tfs_fdcache_check(struct tfs_fdcache *c, uint32_t file, struct tfs_error *err);

/* Files open now and most ever open at once; the cap. */
void tfs_fdcache_stats(struct tfs_fdcache *c, unsigned *open_now, unsigned *peak, unsigned *cap);

/* The cap for max_open 0: a quarter of RLIMIT_NOFILE's soft limit (two descriptors a file, half
 * the limit left to the rest of the process), at least 8. */
unsigned tfs_fdcache_default_max(void);

#endif
