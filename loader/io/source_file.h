/*
 * source_file.h - what the local-file source offers beyond source.h: a test hook. Nothing in the
 * library calls it; tests use it to prove that the read loop survives short transfers.
 */
#ifndef TFS_SOURCE_FILE_H
#define TFS_SOURCE_FILE_H

#include <stddef.h>

#include "io/source.h"

/* Caps each buffered pread of the file source `s` at `max` bytes (0: no cap), as a filesystem
 * that returns short counts would. Call before any read; `s` must come from a local path. */
void tfs_source_file_limit_io(struct tfs_source *s, size_t max);

#endif
