/*
 * source_file.c - the local-file byte source: one buffered descriptor for the life of the source,
 * plus an O_DIRECT descriptor of the same inode opened at the first TFS_SOURCE_DIRECT read.
 *
 * "Unchanged" (check()) means more than size and mtime:
 *   - truncated or extended            size differs
 *   - written in place                 mtime or ctime differs (ctime also catches a writer that puts
 *                                      the old mtime back, as `rsync --inplace -t` or `touch -r` do;
 *                                      it also moves on chmod/chown/link, which is refused too:
 *                                      conservative, never wrong bytes)
 *   - deleted                          the open inode has no links left
 *   - renamed over, replaced, or a     the path now names another inode (dev/ino differ); the open
 *     mount put over the path          descriptor would keep serving the unlinked original
 * Cost: one fstat and one stat of the path per check. The engine does not pay it per read while
 * its change watch runs: io/srccache.h decides when a check runs.
 *
 * Page-cache residency for splice_fd() comes from cachestat(2) (Linux 6.5); without it the source
 * always answers -1 and stops asking.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "io/source_file.h"

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

#define PAGE 4096u
#define DFD_UNTRIED (-2)

struct file_source {
	struct tfs_source pub;
	int fd;                     /* immutable after open */
	int64_t ctime_ns;           /* from fstat at open; immutable */
	atomic_int dfd;             /* DFD_UNTRIED, -1 (no O_DIRECT here), or the O_DIRECT descriptor */
	atomic_int direct_refused;  /* set once a read saw EINVAL: buffered from then on */
	atomic_int no_cachestat;    /* set once the kernel said it has no cachestat(2) */
	size_t max_io;              /* test hook (source_file.h); 0: no cap; set before reads */
};

static struct file_source *fsrc(struct tfs_source *s)
{
	return (struct file_source *)s;
}

static int64_t ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void info_of(const struct stat *st, struct tfs_source_info *out)
{
	out->size = (uint64_t)st->st_size;
	out->mtime_ns = ns(&st->st_mtim);
	out->dev = (uint64_t)st->st_dev;
	out->ino = (uint64_t)st->st_ino;
	out->mode = st->st_mode & 07777;
}

/* The O_DIRECT descriptor, opened on first use; -1 when the filesystem refuses it or the path now
 * names another inode than ours (a rename between two opens must not mix files). */
static int direct_fd(struct file_source *f)
{
	int dfd = atomic_load(&f->dfd), untried = DFD_UNTRIED;
	struct stat st;

	if (dfd != DFD_UNTRIED)
		return dfd;
	dfd = open(f->pub.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (dfd >= 0 && (fstat(dfd, &st) < 0 || (uint64_t)st.st_dev != f->pub.info.dev ||
			 (uint64_t)st.st_ino != f->pub.info.ino)) {
		close(dfd);
		dfd = -1;
	}
	if (!atomic_compare_exchange_strong(&f->dfd, &untried, dfd)) {
		if (dfd >= 0)
			close(dfd); /* another reader opened it first */
		return untried;
	}
	return dfd;
}

static ssize_t file_read(struct tfs_source *s, void *buf, size_t len, uint64_t off, unsigned flags,
			 struct tfs_error *err)
{
	struct file_source *f = fsrc(s);
	size_t done = 0;

	if ((flags & TFS_SOURCE_DIRECT) && len && !atomic_load(&f->direct_refused)) {
		int dfd = direct_fd(f);
		while (dfd >= 0) {
			/* Whole pages into the page-aligned buffer: the disk DMAs straight into it. */
			ssize_t n = pread(dfd, buf, (len + PAGE - 1) / PAGE * PAGE, (off_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EINVAL) /* this filesystem or range refuses O_DIRECT */
				atomic_store(&f->direct_refused, 1);
			else if (n < 0)
				return tfs_error_set(err, -errno, "%s: read at %" PRIu64 ": %s", s->path,
						     off, strerror(errno));
			else
				done = (size_t)n < len ? (size_t)n : len; /* more: the file grew */
			break;
		}
	}
	while (done < len) {
		size_t want = len - done;
		ssize_t n;

		if (f->max_io && want > f->max_io)
			want = f->max_io;
		n = pread(f->fd, (char *)buf + done, want, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tfs_error_set(err, -errno, "%s: read at %" PRIu64 ": %s", s->path,
					     off + done, strerror(errno));
		if (n == 0)
			break; /* end of file: the caller sees the short count */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

#define MAX_IOV 16

/* One O_DIRECT preadv for the whole range (the disk sees one request where it would see one per
 * cache block); where that cannot be, or it came back short, a file_read per piece. */
static ssize_t file_readv(struct tfs_source *s, const struct iovec *iov, int n, uint64_t off,
			  unsigned flags, struct tfs_error *err)
{
	struct file_source *f = fsrc(s);
	size_t total = 0;
	int dfd = -1;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if ((flags & TFS_SOURCE_DIRECT) && n > 0 && n <= MAX_IOV && !f->max_io &&
	    !atomic_load(&f->direct_refused))
		dfd = direct_fd(f);
	while (dfd >= 0) {
		struct iovec v[MAX_IOV];
		ssize_t r;

		memcpy(v, iov, (size_t)n * sizeof(*v));
		v[n - 1].iov_len = (v[n - 1].iov_len + PAGE - 1) / PAGE * PAGE;
		r = preadv(dfd, v, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EINVAL) { /* this filesystem or range refuses O_DIRECT */
			atomic_store(&f->direct_refused, 1);
			break;
		}
		if (r < 0)
			return tfs_error_set(err, -errno, "%s: read at %" PRIu64 ": %s", s->path, off,
					     strerror(errno));
		if ((size_t)r >= total)
			return (ssize_t)total;
		flags = 0; /* short: the file ends inside the range, or shrank; read it buffered */
		break;
	}
	return tfs_source_read_pieces(s, iov, n, off, flags, err);
}

static int file_check(struct tfs_source *s, struct tfs_error *err)
{
	struct file_source *f = fsrc(s);
	const struct tfs_source_info *i = &s->info;
	struct stat st, pst;

	if (fstat(f->fd, &st) < 0)
		return tfs_error_set(err, -EIO, "%s: fstat: %s", s->path, strerror(errno));
	if ((uint64_t)st.st_dev != i->dev || (uint64_t)st.st_ino != i->ino)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: replaced by another "
				     "file (inode %" PRIu64 " -> %" PRIu64 ")", s->path, i->ino,
				     (uint64_t)st.st_ino);
	if ((uint64_t)st.st_size != i->size)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: truncated or extended "
				     "(size %" PRIu64 " -> %" PRIu64 ")", s->path, i->size,
				     (uint64_t)st.st_size);
	if (ns(&st.st_mtim) != i->mtime_ns)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: modified (mtime moved)",
				     s->path);
	if (stat(s->path, &pst) < 0)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: %s", s->path,
				     errno == ENOENT ? "deleted or renamed away" : strerror(errno));
	if (pst.st_dev != st.st_dev || pst.st_ino != st.st_ino)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: the path now names "
				     "another file (renamed over, replaced, or mounted over)", s->path);
	if (st.st_nlink == 0)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: deleted", s->path);
	if (ns(&st.st_ctim) != f->ctime_ns)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: modified (ctime moved: "
				     "written, or its mode, owner or links changed)", s->path);
	return 0;
}

/* The kernel's ABI for cachestat(2) (include/uapi/linux/mman.h), not in Debian 12's headers. */
struct tfs_cachestat_range {
	uint64_t off, len;
};
struct tfs_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static int file_splice_fd(struct tfs_source *s, uint64_t off, uint64_t len)
{
	struct file_source *f = fsrc(s);
	struct tfs_cachestat_range r = { off / PAGE * PAGE, 0 };
	struct tfs_cachestat cs;

	if (len == 0 || atomic_load(&f->no_cachestat))
		return -1;
	r.len = (off + len + PAGE - 1) / PAGE * PAGE - r.off;
	if (syscall(SYS_cachestat, f->fd, &r, &cs, 0) < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP)
			atomic_store(&f->no_cachestat, 1);
		return -1;
	}
	return cs.nr_cache * PAGE >= r.len ? f->fd : -1;
}

static void file_close(struct tfs_source *s)
{
	struct file_source *f = fsrc(s);
	int dfd = atomic_load(&f->dfd);

	if (f->fd >= 0)
		close(f->fd);
	if (dfd >= 0)
		close(dfd);
	free(s->path);
	free(f);
}

static const struct tfs_source_ops file_ops = {
	.kind = "file",
	.bypasses_page_cache = 1,
	.read = file_read,
	.readv = file_readv,
	.check = file_check,
	.splice_fd = file_splice_fd,
	.close = file_close,
};

static int file_open(const char *path, struct tfs_source **out, struct tfs_error *err)
{
	struct file_source *f = calloc(1, sizeof(*f));
	struct stat st;
	int rc;

	if (!f)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", path);
	f->pub.ops = &file_ops;
	f->fd = -1;
	atomic_init(&f->dfd, DFD_UNTRIED);
	f->pub.path = strdup(path);
	if (!f->pub.path) {
		rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		rc = tfs_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(f->fd, &st) < 0) {
		rc = tfs_error_set(err, -errno, "%s: fstat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = tfs_error_set(err, -EINVAL, "%s: not a regular file", path);
		goto fail;
	}
	info_of(&st, &f->pub.info);
	f->ctime_ns = ns(&st.st_ctim);
	*out = &f->pub;
	return 0;
fail:
	file_close(&f->pub);
	return rc;
}

/* Follows symlinks, as Hugging Face caches are trees of links. */
static int file_stat(const char *path, struct tfs_source_info *out, struct tfs_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return tfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return tfs_error_set(err, -EINVAL, "%s: not a regular file", path);
	info_of(&st, out);
	return 0;
}

const struct tfs_source_scheme tfs_source_scheme_file = {
	.kind = "file",
	.open = file_open,
	.stat = file_stat,
};

void tfs_source_file_limit_io(struct tfs_source *s, size_t max)
{
	if (s->ops == &file_ops)
		fsrc(s)->max_io = max;
}
