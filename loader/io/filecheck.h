/*
 * filecheck.h - is a checkpoint file still the one the catalog described?
 *
 * The engine keeps one descriptor per file, opened after the catalog parsed the headers. Bytes read
 * through it are only the bytes the catalog describes while the file is unchanged, and "unchanged"
 * means more than size and mtime:
 *   - truncated or extended            size differs
 *   - written in place                 mtime or ctime differs (ctime also catches a writer that puts
 *                                      the old mtime back, as `rsync --inplace -t` or `touch -r` do;
 *                                      it also moves on chmod/chown/link, which is refused too:
 *                                      conservative, never wrong bytes)
 *   - deleted                          the open inode has no links left
 *   - renamed over, replaced, or a     the path now names another inode (dev/ino differ); the old
 *     mount put over the path          descriptor would keep serving the unlinked original
 *   - replaced between catalog open    the descriptor's inode is not the one the catalog stat()ed
 *     and engine open
 * Cost: one fstat and one stat of the path per check.
 */
#ifndef TFS_FILECHECK_H
#define TFS_FILECHECK_H

#include <stdint.h>

#include "tensorfs.h"

/* What a file looked like when its descriptor was opened. Immutable after tfs_filecheck_open. */
struct tfs_filecheck {
	const struct tfs_file *f;  /* the catalog's (path, size, mtime_ns, dev, ino); must outlive this */
	int64_t ctime_ns;          /* from fstat at open */
};

/*
 * Records the state of `fd`, just opened on f->path, and checks that it is the file the catalog
 * described (same dev/ino, size and mtime). 0, or -EIO with a message naming the file and why.
 */
int tfs_filecheck_open(struct tfs_filecheck *fc, int fd, const struct tfs_file *f,
		       struct tfs_error *err);

/*
 * 0 when `fd` and the path still name the unchanged file; else -EIO with a message naming the file
 * and what changed ("truncated or extended: size 100 -> 50", "replaced: ..."). Thread-safe.
 */
int tfs_filecheck(const struct tfs_filecheck *fc, int fd, struct tfs_error *err);

#endif
