/*
 * resident.c - page-cache residency by cachestat(2) (see resident.h).
 */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "io/resident.h"

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

int tfs_io_resident(int fd, uint64_t off, uint64_t len)
{
	const uint64_t page = 4096;
	struct tfs_cachestat_range r = { off / page * page, 0 };
	struct tfs_cachestat cs;

	if (len == 0)
		return 0;
	r.len = (off + len + page - 1) / page * page - r.off;
	if (syscall(SYS_cachestat, fd, &r, &cs, 0) < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP ? -1 : 0;
	return cs.nr_cache * page >= r.len;
}
