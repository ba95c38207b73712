/*
 * source.c - picks the byte source for a path (see source.h) and checks an opened file against
 * what the caller expected. The scheme table is the only place that knows which sources exist.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "error.h"
#include "io/source.h"

/* First matching prefix wins; "" (local files) matches every path and stays last. A new source
 * is one line here: { "http://", &tfs_source_scheme_http }. */
static const struct {
	const char *prefix;
	const struct tfs_source_scheme *scheme;
} schemes[] = {
	{ "", &tfs_source_scheme_file },
};

static const struct tfs_source_scheme *scheme_of(const char *path)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(path, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
			return schemes[i].scheme;
	return NULL; /* unreachable while "" is in the table */
}

/* 0 when `got` is the file `want` described; else -EIO naming the file and the difference. */
static int same_file(const char *path, const struct tfs_source_info *want,
		     const struct tfs_source_info *got, struct tfs_error *err)
{
	if (got->dev != want->dev || got->ino != want->ino)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: replaced by another "
				     "file (inode %" PRIu64 " -> %" PRIu64 ")", path, want->ino, got->ino);
	if (got->size != want->size)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: truncated or extended "
				     "(size %" PRIu64 " -> %" PRIu64 ")", path, want->size, got->size);
	if (got->mtime_ns != want->mtime_ns)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: modified (mtime moved)",
				     path);
	return 0;
}

int tfs_source_open(const char *path, const struct tfs_source_info *expect,
		    struct tfs_source **out, struct tfs_error *err)
{
	const struct tfs_source_scheme *sc = scheme_of(path);
	struct tfs_source *s = NULL;
	int rc;

	if (!sc)
		return tfs_error_set(err, -EINVAL, "%s: no byte source reads this path", path);
	rc = sc->open(path, &s, err);
	if (rc < 0)
		return rc;
	if (expect) {
		rc = same_file(path, expect, &s->info, err);
		if (rc < 0) {
			tfs_source_close(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

int tfs_source_stat(const char *path, struct tfs_source_info *out, struct tfs_error *err)
{
	const struct tfs_source_scheme *sc = scheme_of(path);

	if (!sc)
		return tfs_error_set(err, -EINVAL, "%s: no byte source reads this path", path);
	return sc->stat(path, out, err);
}
