/*
 * resident.h - is a byte range of a file already in the kernel's page cache?
 *
 * Reading a resident range with O_DIRECT goes to the disk again (and costs an IO per 2 MiB block
 * or worse); reading it buffered is a memory copy. The reader and the warm-up ask this before each
 * block so they never pay the disk for bytes RAM already holds.
 */
#ifndef TFS_RESIDENT_H
#define TFS_RESIDENT_H

#include <stdint.h>

/* 1 when every page of [off, off+len) of fd is in the page cache, 0 when some is not, -1 when the
 * kernel cannot tell (no cachestat(2): Linux < 6.5). len 0 answers 0. Thread-safe, no side effects
 * (unlike a RWF_NOWAIT read, which starts readahead of what it misses). */
int tfs_io_resident(int fd, uint64_t off, uint64_t len);

#endif
