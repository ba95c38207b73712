/* minmax.h - the smaller of two byte counts or offsets: one helper for the engine's range
 * arithmetic (cache windows, readahead windows) instead of a copy per file. */
#ifndef TFS_MINMAX_H
#define TFS_MINMAX_H

#include <stdint.h>

static inline uint64_t tfs_min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

#endif
