/*
 * engine.c - the one path by which checkpoint bytes are read (shared/DESIGN.md, "Engine rules").
 *
 * FIRST VERSION: direct pread per request, no cache, no readahead. It keeps the public contract of
 * tfs_engine_read() (exact bytes, -EIO on a changed file) so the mount and tests can rely on it
 * while the block cache and reader pool are built behind the same functions.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "tensorfs.h"

struct tfs_engine {
	const struct tfs_catalog *cat;
	struct tfs_engine_opts opts;
	size_t n_files;
	int *fds;                  /* one per catalog file, opened at engine open */
	atomic_uint_fast64_t reads, bytes_served, bytes_from_disk, errors;
};

struct tfs_stream {
	struct tfs_engine *e;
};

static const char *strategy_names[] = { "lazy", "eager", "streaming", "auto" };

const char *tfs_strategy_name(enum tfs_strategy s)
{
	return (unsigned)s <= TFS_STRATEGY_AUTO ? strategy_names[s] : "?";
}

int tfs_strategy_parse(const char *name, enum tfs_strategy *out)
{
	for (unsigned i = 0; i <= TFS_STRATEGY_AUTO; i++) {
		if (strcmp(name, strategy_names[i]) == 0) {
			*out = (enum tfs_strategy)i;
			return 0;
		}
	}
	return -EINVAL;
}

void tfs_engine_opts_init(struct tfs_engine_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->strategy = TFS_STRATEGY_AUTO;
	o->progress_fd = -1;
}

int tfs_engine_open(const struct tfs_catalog *cat, const struct tfs_engine_opts *o,
		    struct tfs_engine **out, struct tfs_error *err)
{
	struct tfs_engine *e = calloc(1, sizeof(*e));
	int rc;

	if (!e)
		return tfs_error_set(err, -ENOMEM, "engine: out of memory");
	e->cat = cat;
	if (o)
		e->opts = *o;
	else
		tfs_engine_opts_init(&e->opts);
	e->n_files = tfs_catalog_file_count(cat);
	e->fds = malloc((e->n_files ? e->n_files : 1) * sizeof(int));
	if (!e->fds) {
		rc = tfs_error_set(err, -ENOMEM, "engine: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < e->n_files; i++)
		e->fds[i] = -1;
	for (size_t i = 0; i < e->n_files; i++) {
		const struct tfs_file *f = tfs_catalog_file(cat, i);
		e->fds[i] = open(f->path, O_RDONLY | O_CLOEXEC);
		if (e->fds[i] < 0) {
			rc = tfs_error_set(err, -errno, "%s: cannot open: %s", f->path, strerror(errno));
			goto fail;
		}
	}
	*out = e;
	return 0;
fail:
	tfs_engine_close(e);
	return rc;
}

void tfs_engine_close(struct tfs_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; e->fds && i < e->n_files; i++)
		if (e->fds[i] >= 0)
			close(e->fds[i]);
	free(e->fds);
	free(e);
}

struct tfs_stream *tfs_stream_open(struct tfs_engine *e)
{
	struct tfs_stream *s = calloc(1, sizeof(*s));

	if (s)
		s->e = e;
	return s;
}

void tfs_stream_close(struct tfs_stream *s)
{
	free(s);
}

/* A file that changed since the catalog opened it must not be served: its bytes are not the ones
 * the catalog describes. */
static int check_unchanged(struct tfs_engine *e, uint32_t file, struct tfs_error *err)
{
	const struct tfs_file *f = tfs_catalog_file(e->cat, file);
	struct stat st;

	if (fstat(e->fds[file], &st) < 0)
		return tfs_error_set(err, -EIO, "%s: fstat: %s", f->path, strerror(errno));
	if ((uint64_t)st.st_size != f->size ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != f->mtime_ns)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened (size or mtime)",
				     f->path);
	return 0;
}

ssize_t tfs_engine_read(struct tfs_engine *e, struct tfs_stream *s, uint32_t file, uint64_t off,
			void *buf, size_t len, struct tfs_error *err)
{
	const struct tfs_file *f;
	size_t done = 0;
	int rc;

	if (file >= e->n_files)
		return tfs_error_set(err, -EINVAL, "engine: no file #%" PRIu32, file);
	f = tfs_catalog_file(e->cat, file);
	atomic_fetch_add(&e->reads, 1);
	if (off >= f->size)
		return 0;
	if (len > f->size - off)
		len = f->size - off;
	rc = check_unchanged(e, file, err);
	if (rc < 0)
		goto fail;
	while (done < len) {
		ssize_t n = pread(e->fds[file], (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = tfs_error_set(err, -EIO, "%s: read at %" PRIu64 ": %s", f->path, off + done,
					   n < 0 ? strerror(errno) : "unexpected end of file");
			goto fail;
		}
		done += (size_t)n;
	}
	atomic_fetch_add(&e->bytes_from_disk, done);
	atomic_fetch_add(&e->bytes_served, done);
	return (ssize_t)done;
fail:
	atomic_fetch_add(&e->errors, 1);
	return rc;
}

void tfs_engine_stats(const struct tfs_engine *e, struct tfs_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->reads = atomic_load(&e->reads);
	out->bytes_served = atomic_load(&e->bytes_served);
	out->bytes_from_disk = atomic_load(&e->bytes_from_disk);
	out->errors = atomic_load(&e->errors);
	out->pinning = "none (no cache yet)";
	out->strategy = TFS_STRATEGY_LAZY;
	out->strategy_reason = "direct reads";
}

int tfs_stats_json(const struct tfs_stats *st, char *buf, size_t cap)
{
	int n = snprintf(buf, cap,
		"{\"reads\": %" PRIu64 ", \"bytes_served\": %" PRIu64 ", \"bytes_from_disk\": %" PRIu64
		", \"cache_hits\": %" PRIu64 ", \"cache_misses\": %" PRIu64
		", \"bytes_prefetched\": %" PRIu64 ", \"bytes_prefetched_unused\": %" PRIu64
		", \"evictions\": %" PRIu64 ", \"cache_bytes\": %" PRIu64 ", \"cache_peak_bytes\": %" PRIu64
		", \"cache_budget\": %" PRIu64 ", \"block_size\": %" PRIu64 ", \"readahead_bytes\": %" PRIu64
		", \"threads\": %u, \"warm_done_bytes\": %" PRIu64 ", \"warm_total_bytes\": %" PRIu64
		", \"pinning\": \"%s\", \"strategy\": \"%s\", \"strategy_reason\": \"%s\""
		", \"errors\": %" PRIu64 "}",
		st->reads, st->bytes_served, st->bytes_from_disk, st->cache_hits, st->cache_misses,
		st->bytes_prefetched, st->bytes_prefetched_unused, st->evictions, st->cache_bytes,
		st->cache_peak_bytes, st->cache_budget, st->block_size, st->readahead_bytes, st->threads,
		st->warm_done_bytes, st->warm_total_bytes, st->pinning ? st->pinning : "",
		tfs_strategy_name(st->strategy), st->strategy_reason ? st->strategy_reason : "",
		st->errors);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
