/*
 * source.h - the byte-source seam: every byte of a checkpoint file that libtensorfs reads, from
 * the catalog's header reads to the engine's block fills, comes through one of these. The local
 * file source (source_file.c) is the first implementation; others (HTTP range reads) add one file
 * and one table of operations, as libfuse's fuse_lowlevel_ops does for a filesystem.
 *
 * Rules every implementation keeps:
 *  - read() returns exactly `len` bytes, or fewer only at the end of the file, or a negative errno
 *    with a message naming the file: it loops over short transfers itself, so no caller ever sees a
 *    silently short range.
 *  - check() says whether the file is still the one described at open (size, time, identity, or for
 *    remote files ETag/Last-Modified); a changed file is never served again (-EIO).
 *  - Thread-safe: many reader threads call read() on one source at once.
 * Ownership: tfs_source_open() hands the caller one source, released by tfs_source_close().
 *
 * Adding a source: one file (source_http.c) that defines a struct tfs_source_scheme, plus one line
 * per URL prefix in source.c's table. Local paths are the last entry and match everything else.
 */
#ifndef TFS_SOURCE_H
#define TFS_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tensorfs.h"

struct tfs_source;

/* What a file is, as the source saw it at open. */
struct tfs_source_info {
	uint64_t size;
	int64_t mtime_ns;       /* 0 when the source cannot tell */
	uint64_t dev, ino;      /* local identity; 0 for remote sources */
	uint32_t mode;          /* permission bits (0444 for remote sources) */
};

/* Flags of tfs_source_read(). */
enum {
	/* buf and off are 4 KiB-aligned and buf has room for len rounded up to 4 KiB: the source may
	 * bypass the page cache (O_DIRECT) and fill whole pages. Never more than len bytes are
	 * reported. Sources that cannot bypass ignore the flag. */
	TFS_SOURCE_DIRECT = 1 << 0,
};

struct tfs_source_ops {
	const char *kind;   /* "file", "http" */
	/* 1 when TFS_SOURCE_DIRECT reads past the kernel's page cache (O_DIRECT into the caller's
	 * aligned buffer); 0 when the source ignores the flag (remote sources) */
	int bypasses_page_cache;
	ssize_t (*read)(struct tfs_source *s, void *buf, size_t len, uint64_t off, unsigned flags,
			struct tfs_error *err);
	int (*check)(struct tfs_source *s, struct tfs_error *err);
	/* Optional (NULL: never). A descriptor to splice [off, off+len) from when the whole range
	 * is in the kernel's page cache; -1 when not (or unknown). Valid until close. */
	int (*splice_fd)(struct tfs_source *s, uint64_t off, uint64_t len);
	void (*close)(struct tfs_source *s);
	/* Optional (NULL: read() per piece). read() of [off, off + total) into the n pieces of iov
	 * in order, as one request where the source can (one disk I/O for a range that spans several
	 * cache blocks). With TFS_SOURCE_DIRECT every piece is 4 KiB-aligned, all but the last a
	 * multiple of 4 KiB long, and the last has room up to its next 4 KiB. Returns the bytes
	 * read, as read() does. */
	ssize_t (*readv)(struct tfs_source *s, const struct iovec *iov, int n, uint64_t off,
			 unsigned flags, struct tfs_error *err);
};

/* The common head of every source; implementations embed it first. */
struct tfs_source {
	const struct tfs_source_ops *ops;
	char *path;                    /* for messages and identity; owned by the source */
	struct tfs_source_info info;   /* at open; immutable */
};

/* One kind of source, as source.c's scheme table lists it. */
struct tfs_source_scheme {
	const char *kind;   /* "file" */
	/* As tfs_source_open without `expect` (source.c checks it for every kind). */
	int (*open)(const char *path, struct tfs_source **out, struct tfs_error *err);
	/* As tfs_source_stat. */
	int (*stat)(const char *path, struct tfs_source_info *out, struct tfs_error *err);
};

extern const struct tfs_source_scheme tfs_source_scheme_file;   /* source_file.c */
/* URLs: source_remote.c, which forwards to source_http.c in its plugin (below). */
extern const struct tfs_source_scheme tfs_source_scheme_http;

/*
 * The HTTP(S)/S3 source (source_http.c, sigv4.c) is built into its own shared object,
 * libtensorfs-http.so, the only file that links libcurl and libcrypto: source_remote.c dlopen()s
 * it at the first URL (util/plugin.h), so opening local files never loads libcurl's ~30 libraries.
 * The plugin exports one function, TFS_HTTP_PLUGIN_SYMBOL; `abi` and the sizes guard against a
 * plugin from another build. A program that links source_http.c itself (unit tests, fuzzers) uses
 * that copy instead.
 */
#define TFS_SOURCE_PLUGIN_ABI 1
#define TFS_HTTP_PLUGIN "libtensorfs-http.so"
#define TFS_HTTP_PLUGIN_SYMBOL "tfs_http_source_v1"
struct tfs_source_plugin {
	int abi;                                 /* TFS_SOURCE_PLUGIN_ABI */
	size_t scheme_size, ops_size, source_size; /* sizeof each struct, as the plugin saw them */
	const struct tfs_source_scheme *scheme;
};
const struct tfs_source_plugin *tfs_http_source_v1(void);

/*
 * Opens `path` (a local path today) and fills s->info. When `expect` is not NULL the file must
 * still match it (size, mtime, dev/ino): -EIO naming the file and the difference otherwise.
 * On success *out is owned by the caller. Errors: -errno naming the file.
 */
int tfs_source_open(const char *path, const struct tfs_source_info *expect,
		    struct tfs_source **out, struct tfs_error *err);

/* 1 when `path` is a URL (a remote source): its folders cannot be listed, only named files
 * fetched. 0 for local paths. */
int tfs_source_is_url(const char *path);

/* Stats `path` without opening it (for catalog walks): 0, or -errno naming the file; -EINVAL
 * "not a regular file" for a folder or device. */
int tfs_source_stat(const char *path, struct tfs_source_info *out, struct tfs_error *err);

static inline ssize_t tfs_source_read(struct tfs_source *s, void *buf, size_t len, uint64_t off,
				      unsigned flags, struct tfs_error *err)
{
	return s->ops->read(s, buf, len, off, flags, err);
}

/* ops.readv done by a read() per piece, in order: for sources without a readv, and for one that
 * cannot make a range one request. */
static inline ssize_t tfs_source_read_pieces(struct tfs_source *s, const struct iovec *iov, int n,
					     uint64_t off, unsigned flags, struct tfs_error *err)
{
	size_t done = 0;

	for (int i = 0; i < n; i++) {
		ssize_t r = s->ops->read(s, iov[i].iov_base, iov[i].iov_len, off + done, flags, err);

		if (r < 0)
			return r;
		done += (size_t)r;
		if ((size_t)r < iov[i].iov_len)
			break; /* end of file */
	}
	return (ssize_t)done;
}

/* As tfs_source_read, into the n pieces of iov (see ops.readv). */
static inline ssize_t tfs_source_readv(struct tfs_source *s, const struct iovec *iov, int n,
				       uint64_t off, unsigned flags, struct tfs_error *err)
{
	if (s->ops->readv)
		return s->ops->readv(s, iov, n, off, flags, err);
	return tfs_source_read_pieces(s, iov, n, off, flags, err);
}

static inline int tfs_source_check(struct tfs_source *s, struct tfs_error *err)
{
	return s->ops->check(s, err);
}

static inline int tfs_source_splice_fd(struct tfs_source *s, uint64_t off, uint64_t len)
{
	return s->ops->splice_fd ? s->ops->splice_fd(s, off, len) : -1;
}

/* Accepts NULL; cannot fail. */
static inline void tfs_source_close(struct tfs_source *s)
{
	if (s)
		s->ops->close(s);
}

#endif
