/* error.h - filling a struct tfs_error: the one way every module reports a failure. */
#ifndef TFS_ERROR_H
#define TFS_ERROR_H

#include "tensorfs.h"

/*
 * Formats a one-line message into err (when err is not NULL) and returns `code`, which must be a
 * negative errno, so failures read as `return tfs_error_set(err, -EINVAL, "%s: ...", path);`.
 */
int tfs_error_set(struct tfs_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
