/* error.h - filling a struct tfs_error: the one way every module reports a failure. */
#ifndef TFS_ERROR_H
#define TFS_ERROR_H

#include "tensorfs.h"

/*
 * Formats a one-line message into err (when err is not NULL) and returns `code`, which must be a
 * negative errno, so failures read as `return tfs_error_set(err, -EINVAL, "%s: ...", path);`.
 * A message longer than TFS_ERR_MAX keeps its head and its tail with " [...] " between: messages
 * name the file and the thing first and say the reason last, so a long path or tensor name can
 * never push the reason out.
 */
int tfs_error_set(struct tfs_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
