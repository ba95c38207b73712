/*
 * pagecache.h - how much of a file's byte range the kernel's page cache holds, by cachestat(2)
 * (Linux 6.5). Used by the file source (splice of hot ranges) and the mount (passthrough of warm
 * checkpoint files). Header-only: the call is one syscall.
 */
#ifndef TFS_PAGECACHE_H
#define TFS_PAGECACHE_H

#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

#define TFS_PAGECACHE_PAGE 4096u

/* The kernel's ABI for cachestat(2) (include/uapi/linux/mman.h), not in Debian 12's headers. */
struct tfs_cachestat_range {
	uint64_t off, len;
};
struct tfs_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

/* Pages of [off, off+len) of fd, widened to whole pages, that the page cache holds: stores them in
 * *cached and the range's page count in *pages (both 0 on error). 0, or -errno (-ENOSYS: a kernel
 * before 6.5). */
static inline int tfs_pagecache_count(int fd, uint64_t off, uint64_t len, uint64_t *cached,
				      uint64_t *pages)
{
	struct tfs_cachestat_range r = { off / TFS_PAGECACHE_PAGE * TFS_PAGECACHE_PAGE, 0 };
	struct tfs_cachestat cs;

	*cached = *pages = 0;
	r.len = (off + len + TFS_PAGECACHE_PAGE - 1) / TFS_PAGECACHE_PAGE * TFS_PAGECACHE_PAGE - r.off;
	if (syscall(SYS_cachestat, fd, &r, &cs, 0) < 0)
		return -errno;
	*cached = cs.nr_cache;
	*pages = r.len / TFS_PAGECACHE_PAGE;
	return 0;
}

#endif
