/* fmt.h - the one human-readable byte formatter ("512 B", "1.5 MiB", "3.98 GiB"). */
#ifndef TFS_FMT_H
#define TFS_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Largest unit that keeps the value >= 1, binary units, two decimals above bytes ("1.50 MiB").
 * Writes into buf (cap >= TFS_FMT_BYTES_MAX always suffices) and returns buf. */
#define TFS_FMT_BYTES_MAX 24
const char *tfs_fmt_bytes(uint64_t v, char *buf, size_t cap);

#endif
