/*
 * filecheck.c - detects a checkpoint file that changed under an open engine (see filecheck.h).
 * The reader calls tfs_filecheck_open() once per file and tfs_filecheck() before serving a request
 * and after each block read; a file that fails once is refused for the life of the engine.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "io/filecheck.h"

static int64_t ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Compares what fstat says about the descriptor with the catalog's view. */
static int same_as_catalog(const struct tfs_file *f, const struct stat *st, struct tfs_error *err)
{
	if ((uint64_t)st->st_dev != f->dev || (uint64_t)st->st_ino != f->ino)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: replaced by another "
				     "file (inode %" PRIu64 " -> %" PRIu64 ")", f->path, f->ino,
				     (uint64_t)st->st_ino);
	if ((uint64_t)st->st_size != f->size)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: truncated or extended "
				     "(size %" PRIu64 " -> %" PRIu64 ")", f->path, f->size,
				     (uint64_t)st->st_size);
	if (ns(&st->st_mtim) != f->mtime_ns)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: modified (mtime moved)",
				     f->path);
	return 0;
}

int tfs_filecheck_open(struct tfs_filecheck *fc, int fd, const struct tfs_file *f,
		       struct tfs_error *err)
{
	struct stat st;
	int rc;

	fc->f = f;
	fc->ctime_ns = 0;
	if (fstat(fd, &st) < 0)
		return tfs_error_set(err, -EIO, "%s: fstat: %s", f->path, strerror(errno));
	rc = same_as_catalog(f, &st, err);
	if (rc < 0)
		return rc;
	fc->ctime_ns = ns(&st.st_ctim);
	return 0;
}

int tfs_filecheck(const struct tfs_filecheck *fc, int fd, struct tfs_error *err)
{
	const struct tfs_file *f = fc->f;
	struct stat st, pst;
	int rc;

	if (fstat(fd, &st) < 0)
		return tfs_error_set(err, -EIO, "%s: fstat: %s", f->path, strerror(errno));
	rc = same_as_catalog(f, &st, err);
	if (rc < 0)
		return rc;
	if (stat(f->path, &pst) < 0)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: %s", f->path,
				     errno == ENOENT ? "deleted or renamed away" : strerror(errno));
	if (pst.st_dev != st.st_dev || pst.st_ino != st.st_ino)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: the path now names "
				     "another file (renamed over, replaced, or mounted over)", f->path);
	if (st.st_nlink == 0)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: deleted", f->path);
	if (ns(&st.st_ctim) != fc->ctime_ns)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: modified (ctime moved: "
				     "written, or its mode, owner or links changed)", f->path);
	return 0;
}
