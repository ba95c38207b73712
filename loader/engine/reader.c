/*
 * reader.c - worker threads that read blocks into the cache (see reader.h).
 *
 * Data flow: engine -> tfs_cache_lookup() says FILL -> tfs_reader_submit() -> a worker reads the
 * block's bytes from the shard's byte source (io/source.h) into the block's buffer ->
 * tfs_cache_fill_done() wakes every waiter. Coalescing needs nothing here: the cache hands a
 * missing block to one filler only.
 *
 * Why workers even for demand reads: a large read (a 64 MiB tensor) becomes many block jobs that
 * run in parallel, and readahead/warm-up share the same I/O concurrency limit. Worker 0 takes only
 * demand jobs (when there are two or more workers), so a waiting caller never queues behind a
 * full pool of background reads.
 *
 * Locking: reader->lock guards both queues, the rq_* fields of queued blocks, `stop` and each
 * file's `why`. It is never held across I/O or while calling into the cache.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "engine/reader.h"
#include "io/source.h"
#include "io/srccache.h"

struct rfile {
	const struct tfs_file *f;    /* catalog's, immutable */
	atomic_int changed;          /* set once, never cleared */
	atomic_int chains;           /* tfs_reader_chains' answer: 0 not asked yet, 1 no, 2 yes */
	int why_code;                /* the last failed block read's errno (0: none) and message,
				      * from its source; reader->lock */
	struct tfs_error why;        /* reader->lock */
};


struct worker {
	struct tfs_reader *r;
	unsigned id;
	pthread_t thread;
};

struct tfs_reader {
	struct tfs_cache *cache;
	uint64_t bs;
	size_t n_files;
	struct rfile *files;
	struct tfs_srccache *srcs;       /* each file's source, opened on first use (io/srccache.h) */
	tfs_reader_done_fn done;
	void *ctx;
	tfs_reader_changed_fn changed_fn; /* set before any read (tfs_reader_on_changed) */
	void *changed_ctx;
	pthread_mutex_t lock;
	pthread_cond_t work;             /* signalled on submit, promote and stop */
	struct tfs_list high, low;       /* queued blocks by their rq link, oldest first; reader->lock */
	int stop;                        /* reader->lock */
	unsigned n_workers, started;
	struct worker *workers;
	int direct;                      /* TFS_SOURCE_DIRECT on block reads; set before any job */
	atomic_uint_fast64_t preads, bytes_from_disk;
	atomic_uint_fast64_t bytes_resident; /* of bytes_from_disk, read buffered because the page
					      * cache held them (no O_DIRECT trip to the disk) */
};

/* Requires reader->lock. */
static struct tfs_block *q_first(struct tfs_list *q)
{
	struct tfs_list *l = tfs_list_first(q);

	return l ? tfs_list_entry(l, struct tfs_block, rq) : NULL;
}

static void mark_changed(struct tfs_reader *r, uint32_t file)
{
	if (atomic_exchange(&r->files[file].changed, 1))
		return;
	tfs_cache_invalidate_file(r->cache, file);
	if (r->changed_fn)
		r->changed_fn(r->changed_ctx, file);
}

void tfs_reader_on_changed(struct tfs_reader *r, tfs_reader_changed_fn fn, void *ctx)
{
	r->changed_fn = fn;
	r->changed_ctx = ctx;
}

int tfs_reader_check_file(struct tfs_reader *r, uint32_t file, struct tfs_error *err)
{
	struct rfile *rf = &r->files[file];
	struct tfs_source *src;
	int rc;

	if (atomic_load(&rf->changed))
		return tfs_error_set(err, -EIO, "%s: changed since it was opened", rf->f->path);
	rc = tfs_reader_hold_source(r, file, &src, err);
	if (rc < 0)
		return rc;
	rc = tfs_srccache_check(r->srcs, file, src, err);
	tfs_srccache_put(r->srcs, file);
	if (rc < 0)
		mark_changed(r, file);
	return rc;
}

void tfs_reader_watched(struct tfs_reader *r, int on)
{
	tfs_srccache_watched(r->srcs, on);
}

void tfs_reader_suspect(struct tfs_reader *r, uint32_t file)
{
	tfs_srccache_suspect(r->srcs, file);
}

int tfs_reader_file_changed(struct tfs_reader *r, uint32_t file)
{
	return atomic_load(&r->files[file].changed);
}

int tfs_reader_last_error(struct tfs_reader *r, uint32_t file, int code, struct tfs_error *err)
{
	int found;

	pthread_mutex_lock(&r->lock);
	found = code != 0 && r->files[file].why_code == code;
	if (found && err)
		*err = r->files[file].why;
	pthread_mutex_unlock(&r->lock);
	return found;
}

/*
 * Reads [off, off+len) of `file` from its held source into buf and releases the source, keeping
 * the rules every read keeps: counted in preads and bytes_from_disk; a read that comes back short
 * (the file is shorter than the catalog saw) or from a file that changed meanwhile, or fails
 * because it changed (a remote file's validators), marks it changed and fails with -EIO, so those
 * bytes are never served or cached. The source loops over short transfers itself. Returns len or
 * -errno (a message in err when not NULL).
 */
static ssize_t read_checked(struct tfs_reader *r, uint32_t file, struct tfs_source *src,
			    const struct iovec *iov, int n_iov, uint64_t off, unsigned flags,
			    struct tfs_error *err)
{
	size_t len = 0;
	ssize_t n;
	int rc = 0;

	for (int i = 0; i < n_iov; i++)
		len += iov[i].iov_len;
	n = n_iov == 1 ? tfs_source_read(src, iov[0].iov_base, len, off, flags, err)
		       : tfs_source_readv(src, iov, n_iov, off, flags, err);

	atomic_fetch_add(&r->preads, 1);
	if (n >= 0 && (size_t)n == len)
		rc = tfs_srccache_check(r->srcs, file, src, NULL);
	else if (n < 0 && tfs_source_check(src, NULL) < 0)
		mark_changed(r, file); /* it failed because the file changed (a remote file's ETag) */
	tfs_srccache_put(r->srcs, file);
	if (n < 0)
		return n;
	atomic_fetch_add(&r->bytes_from_disk, (uint64_t)n);
	if ((size_t)n < len || rc < 0) {
		mark_changed(r, file);
		return tfs_error_set(err, -EIO, "%s: changed since it was opened", r->files[file].f->path);
	}
	return n;
}

/*
 * Reads the ranges [flo, fhi) that the fills of b[0..n) ask for (cache.h), one request for all
 * (a chain: tfs_reader_submit_chain), into rc[i]: the bytes read into b[i], or a negative errno.
 */
static void read_blocks(struct tfs_reader *r, struct tfs_block **b, unsigned n, long *rc)
{
	struct rfile *rf = &r->files[b[0]->file];
	uint64_t off = b[0]->index * r->bs + b[0]->flo, end = off;
	struct iovec iov[TFS_READER_CHAIN_MAX];
	struct tfs_source *src;
	struct tfs_error why = { "" };
	unsigned k = 0;
	ssize_t got;
	int err = 0, direct;

	for (unsigned i = 0; i < n; i++)
		rc[i] = 0;
	if (atomic_load(&rf->changed))
		err = -EIO;
	for (unsigned i = 0; i < n && !err; i++)
		err = tfs_cache_fill_begin(r->cache, b[i]);
	/* The pieces inside the file; past its end a block reads nothing (its window stays empty). */
	for (unsigned i = 0; i < n && !err; i++) {
		uint64_t at = b[i]->index * r->bs + b[i]->flo, len = b[i]->fhi - b[i]->flo;

		if (at >= rf->f->size || len == 0)
			break;
		if (len > rf->f->size - at)
			len = rf->f->size - at;
		iov[k].iov_base = b[i]->data + b[i]->flo;
		iov[k].iov_len = (size_t)len;
		rc[i] = (long)len;
		end = at + len;
		k++;
	}
	if (!err && k)
		err = tfs_reader_hold_source(r, b[0]->file, &src, &why);
	if (!err && k) {
		/* Bytes RAM holds are a copy away: a direct read would go to the disk again. */
		direct = r->direct;
		if (direct && tfs_source_splice_fd(src, off, end - off) >= 0) {
			direct = 0;
			atomic_fetch_add(&r->bytes_resident, end - off);
		}
		got = read_checked(r, b[0]->file, src, iov, (int)k, off, direct ? TFS_SOURCE_DIRECT : 0,
				   &why);
		if (got < 0)
			err = (int)got;
	}
	if (err && why.msg[0]) { /* the waiters only get err: keep the source's words for them */
		pthread_mutex_lock(&r->lock);
		rf->why_code = err;
		rf->why = why;
		pthread_mutex_unlock(&r->lock);
	}
	if (err)
		for (unsigned i = 0; i < n; i++)
			rc[i] = err;
}

static void finish(struct tfs_reader *r, struct tfs_block *b, long rc)
{
	tfs_cache_fill_done(r->cache, b, rc);
	if (r->done)
		r->done(r->ctx, b, rc);
	tfs_cache_release(r->cache, b); /* the job's reference */
}

/* Ends a job: unlinks its chain (reader->lock held by the caller), then finishes each block
 * without the lock. */
static void finish_job(struct tfs_reader *r, struct tfs_block **b, unsigned n, const long *rc)
{
	for (unsigned i = 0; i < n; i++) {
		b[i]->chain = NULL;
		b[i]->chain_head = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < n; i++)
		finish(r, b[i], rc[i]);
	pthread_mutex_lock(&r->lock);
}

/* Takes a queued job's blocks out of the queue into b; requires reader->lock. */
static unsigned take_job(struct tfs_block *head, struct tfs_block **b)
{
	unsigned n = 0;

	tfs_list_remove(&head->rq);
	head->rq_queued = 0;
	for (struct tfs_block *x = head; x && n < TFS_READER_CHAIN_MAX; x = x->chain)
		b[n++] = x;
	return n;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct tfs_reader *r = w->r;
	int demand_only = w->id == 0 && r->n_workers > 1;
	struct tfs_block *b[TFS_READER_CHAIN_MAX];
	long rc[TFS_READER_CHAIN_MAX];

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct tfs_block *head;
		unsigned n;

		while (!r->stop && tfs_list_empty(&r->high) && (demand_only || tfs_list_empty(&r->low)))
			pthread_cond_wait(&r->work, &r->lock);
		if (r->stop)
			break;
		head = q_first(&r->high);
		if (!head)
			head = q_first(&r->low);
		n = take_job(head, b);
		pthread_mutex_unlock(&r->lock);
		read_blocks(r, b, n, rc);
		pthread_mutex_lock(&r->lock);
		finish_job(r, b, n, rc);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int tfs_reader_open(struct tfs_cache *cache, const struct tfs_file *const *files, size_t n_files,
		    uint64_t block_size, unsigned threads, tfs_reader_done_fn done, void *ctx,
		    struct tfs_reader **out, struct tfs_error *err)
{
	struct tfs_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return tfs_error_set(err, -ENOMEM, "reader: out of memory");
	r->cache = cache;
	r->bs = block_size;
	r->done = done;
	r->ctx = ctx;
	r->n_files = n_files;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->work, NULL);
	tfs_list_init(&r->high);
	tfs_list_init(&r->low);
	r->files = calloc(n_files ? n_files : 1, sizeof(*r->files));
	r->workers = calloc(threads, sizeof(*r->workers));
	if (!r->files || !r->workers) {
		rc = tfs_error_set(err, -ENOMEM, "reader: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n_files; i++)
		r->files[i].f = files[i];
	/* Nothing is opened here: a folder may hold more files than the process may keep open. */
	rc = tfs_srccache_open(files, n_files, 0, &r->srcs, err);
	if (rc < 0)
		goto fail;
	r->n_workers = threads;
	for (unsigned i = 0; i < threads; i++) {
		r->workers[i].r = r;
		r->workers[i].id = i;
		rc = -pthread_create(&r->workers[i].thread, NULL, worker_main, &r->workers[i]);
		if (rc < 0) {
			tfs_error_set(err, rc, "reader: cannot start thread %u of %u: %s", i + 1,
				      threads, strerror(-rc));
			goto fail;
		}
		r->started++;
	}
	*out = r;
	return 0;
fail:
	tfs_reader_close(r);
	return rc;
}

void tfs_reader_close(struct tfs_reader *r)
{
	struct tfs_block *b;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < r->started; i++)
		pthread_join(r->workers[i].thread, NULL);
	/* Workers are gone: the queues are ours alone now. */
	while ((b = q_first(&r->high)) || (b = q_first(&r->low))) {
		struct tfs_block *job[TFS_READER_CHAIN_MAX];
		long rc[TFS_READER_CHAIN_MAX];
		unsigned n = take_job(b, job);

		for (unsigned i = 0; i < n; i++)
			rc[i] = -ECANCELED;
		pthread_mutex_lock(&r->lock);
		finish_job(r, job, n, rc);
		pthread_mutex_unlock(&r->lock);
	}
	tfs_srccache_close(r->srcs);
	free(r->files);
	free(r->workers);
	pthread_cond_destroy(&r->work);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void tfs_reader_submit(struct tfs_reader *r, struct tfs_block *b, int high)
{
	tfs_reader_submit_chain(r, &b, 1, high);
}

void tfs_reader_submit_chain(struct tfs_reader *r, struct tfs_block **b, unsigned n, int high)
{
	for (unsigned i = 0; i < n; i++)
		tfs_cache_hold(r->cache, b[i]);
	pthread_mutex_lock(&r->lock);
	if (r->stop) {
		pthread_mutex_unlock(&r->lock);
		for (unsigned i = 0; i < n; i++)
			finish(r, b[i], -ECANCELED);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		b[i]->chain = i + 1 < n ? b[i + 1] : NULL;
		b[i]->chain_head = b[0];
		high |= b[i]->rq_boost;
	}
	b[0]->rq_high = (unsigned char)high;
	b[0]->rq_queued = 1;
	tfs_list_push_back(high ? &r->high : &r->low, &b[0]->rq);
	/* Broadcast: a signal could wake only the demand-only worker for a background job. */
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->lock);
}

void tfs_reader_promote(struct tfs_reader *r, struct tfs_block *b)
{
	pthread_mutex_lock(&r->lock);
	b->rq_boost = 1; /* in case it is not submitted yet: submit will honour it */
	if (b->chain_head) /* queued as part of another block's job */
		b = b->chain_head;
	if (b->rq_queued && !b->rq_high) {
		tfs_list_remove(&b->rq);
		tfs_list_push_back(&r->high, &b->rq);
		b->rq_high = 1;
		pthread_cond_broadcast(&r->work);
	}
	pthread_mutex_unlock(&r->lock);
}

void tfs_reader_stats(struct tfs_reader *r, uint64_t *preads, uint64_t *bytes_from_disk,
		      uint64_t *bytes_resident)
{
	*preads = atomic_load(&r->preads);
	*bytes_from_disk = atomic_load(&r->bytes_from_disk);
	*bytes_resident = atomic_load(&r->bytes_resident);
}

int tfs_reader_chains(struct tfs_reader *r, uint32_t file)
{
	struct rfile *rf = &r->files[file];
	int known = atomic_load(&rf->chains), yes;
	struct tfs_source *src;

	/* Asked at every fill of more than one block: the answer is kept, since the kind of source
	 * follows from the file's path and stays the same when the source cache reopens it. */
	if (known)
		return known == 2;
	if (tfs_reader_hold_source(r, file, &src, NULL) < 0)
		return 0; /* the reads that follow report the error */
	yes = src->ops->readv != NULL;
	tfs_reader_put_source(r, file);
	atomic_store(&rf->chains, yes ? 2 : 1);
	return yes;
}

int tfs_reader_resident(struct tfs_reader *r, uint32_t file, uint64_t off, uint64_t len)
{
	struct tfs_source *src;
	int resident;

	if (tfs_reader_hold_source(r, file, &src, NULL) < 0)
		return 0; /* unknown: the read that follows reports the error */
	resident = tfs_source_splice_fd(src, off, len) >= 0;
	tfs_reader_put_source(r, file);
	return resident;
}

ssize_t tfs_reader_read_into(struct tfs_reader *r, uint32_t file, uint64_t off, void *buf,
			     size_t len, struct tfs_error *err)
{
	struct tfs_source *src;
	int resident, rc;
	ssize_t n;

	rc = tfs_reader_hold_source(r, file, &src, err);
	if (rc < 0)
		return rc;
	resident = src->ops->bypasses_page_cache && tfs_source_splice_fd(src, off, len) >= 0;
	if (r->direct && src->ops->bypasses_page_cache && !resident) {
		tfs_srccache_put(r->srcs, file);
		return -EAGAIN;
	}
	n = read_checked(r, file, src, &(struct iovec){ buf, len }, 1, off, 0, err);
	if (n >= 0 && resident)
		atomic_fetch_add(&r->bytes_resident, (uint64_t)n);
	return n;
}

void tfs_reader_enable_direct(struct tfs_reader *r)
{
	/* Blocks are page-aligned (cache.c maps them) and so are their offsets when bs is. */
	r->direct = r->bs % 4096 == 0;
}

int tfs_reader_hold_source(struct tfs_reader *r, uint32_t file, struct tfs_source **out,
			   struct tfs_error *err)
{
	int rc = tfs_srccache_get(r->srcs, file, out, err);

	/* Out of descriptors or memory says nothing about the file: a later read may succeed. */
	if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM)
		return rc;
	if (rc < 0) { /* reopened, and gone or no longer the file the catalog saw */
		mark_changed(r, file);
		return rc == -ENOENT ? tfs_error_set(err, -EIO, "%s: changed since it was opened: "
						     "deleted or renamed away", r->files[file].f->path)
				     : -EIO;
	}
	return 0;
}

void tfs_reader_put_source(struct tfs_reader *r, uint32_t file)
{
	tfs_srccache_put(r->srcs, file);
}

void tfs_reader_source_stats(struct tfs_reader *r, unsigned *open_now, unsigned *peak,
			     unsigned *cap)
{
	tfs_srccache_stats(r->srcs, open_now, peak, cap);
}
