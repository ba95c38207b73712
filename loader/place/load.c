/*
 * load.c - tfs_load: move the selected tensors from the engine into host or GPU memory (the
 * "device" box of docs/DESIGN.md). plan.c decides what goes where and cuts it into chunks;
 * this file moves the bytes:
 *   readers  `threads` threads take a free slot and the next chunk, and fill the slot through the
 *            engine (the only code that reads shards): for a host target whose bytes the page
 *            cache holds or a remote source sends, by reading them past the engine's cache
 *            (tfs_engine_read_uncached) straight into the tensor when one tensor piece fills the
 *            chunk, else into the slot's staging buffer; otherwise by pinning the engine's cache
 *            blocks that hold the chunk (tfs_engine_read_pinned: no copy at all), or by copying
 *            the chunk into the staging buffer (tfs_engine_read)
 *   copier   the calling thread takes filled slots and copies them out: memcpy for "cpu",
 *            cudaMemcpyAsync on one of several streams for "cuda:N"; a slot (its blocks unpinned)
 *            returns to the free list when its copies are done (a CUDA event). Readers that
 *            find no free slot copy out filled "cpu" slots themselves (help_copy), so host
 *            copies are not bound to one thread when copying, not the disk, is the bottleneck
 * so disk reads and host-to-device copies overlap, and the memory in flight is bounded by the ring.
 *
 * Why past the cache: a cache block is fresh memory the kernel must clear (and here, mlock) before
 * a read fills it, and `perf` of a page-cache-hot load showed that clearing as half of all CPU
 * time; the page cache already holds the bytes, and the loader knows what it needs, so the cache
 * adds nothing. Bytes not in the page cache still go through the cache's O_DIRECT block reads.
 *
 * Cache blocks are copied from directly for host targets, and for GPUs when the cache is pinned
 * with CUDA (checked per block: an async copy from pageable memory is a slow synchronous one), else
 * chunks go through the pinned staging ring. Readers pass no engine stream: the loader knows which
 * bytes it needs and keeps `threads` reads in flight itself; readahead would read unselected bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "place/place.h"
#include "engine/engine.h"
#include "io/source.h"
#include "error.h"

struct slot {
	void *buf;                  /* staging buffer of plan->max_chunk bytes */
	struct tfs_span *spans;     /* pinned cache blocks holding the chunk, when n_spans > 0 */
	unsigned n_spans;
	struct tfs_copy *copies;    /* the chunk's copies resolved to addresses (by whoever took the
				     * filled slot off the full ring: the copier or a helping reader) */
	int in_place;               /* the chunk was read straight into its tensor: nothing to copy */
};

struct filled {
	unsigned slot;
	size_t chunk;
};

struct pipe {
	const struct tfs_catalog *cat;
	struct tfs_engine *e;
	const struct tfs_plan *plan;
	struct slot *slots;
	unsigned n_slots, max_spans;
	const struct tfs_backend *host;
	const struct tfs_backend *gpu;  /* NULL when no chunk goes to a GPU */
	const struct tfs_backend *staging; /* allocates the ring: the GPU's pinned memory if any */
	struct tfs_queue *queue;        /* gpu's streams for this load */
	int direct_host, direct_cuda;   /* may chunks for cpu / cuda be copied from cache blocks */
	int uncached;                   /* may chunks for cpu be read past the cache */
	int staging_only;               /* ...but then into the staging ring, never in place */
	atomic_uint_fast64_t bytes_direct, bytes_uncached;
	/* Wake-ups are broadcasts, never signals: a reader waiting for a slot must also learn that the
	 * last chunk was taken (there may be more readers than slots, so slot releases alone do not
	 * wake them all), and glibc's condvars can lose a signal (sourceware bug 25847). */
	pthread_mutex_t mu;
	pthread_cond_t cv_free;         /* a slot was freed, the last chunk taken, or rc was set */
	pthread_cond_t cv_full;         /* a slot was filled, a reader left, or rc was set */
	unsigned *free_slots;           /* protected by mu */
	unsigned n_free;                /* protected by mu */
	struct filled *full;            /* ring of n_slots; protected by mu */
	unsigned full_head, full_n;     /* protected by mu */
	size_t next_chunk;              /* protected by mu */
	unsigned readers_left;          /* protected by mu */
	int rc;                         /* first failure; protected by mu */
	struct tfs_error err;           /* its message; protected by mu */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pipe_fail(struct pipe *p, int rc, const struct tfs_error *err)
{
	pthread_mutex_lock(&p->mu);
	if (!p->rc) {
		p->rc = rc;
		p->err = *err;
	}
	pthread_cond_broadcast(&p->cv_free);
	pthread_cond_broadcast(&p->cv_full);
	pthread_mutex_unlock(&p->mu);
}

static void unpin(struct pipe *p, struct slot *s)
{
	if (s->n_spans)
		tfs_engine_release_spans(p->e, s->spans, s->n_spans);
	s->n_spans = 0;
}

static void release_slot(struct pipe *p, unsigned slot)
{
	unpin(p, &p->slots[slot]);
	pthread_mutex_lock(&p->mu);
	p->free_slots[p->n_free++] = slot;
	pthread_cond_broadcast(&p->cv_free);
	pthread_mutex_unlock(&p->mu);
}

static const struct tfs_backend *backend_of(const struct pipe *p, struct tfs_device dev)
{
	return dev.type == TFS_DEVICE_CPU ? p->host : p->gpu;
}

/* Pinned cache blocks a copy can use directly: every span in memory its backend copies from
 * asynchronously (always for the host; CUDA-registered memory for a GPU). */
static int spans_usable(const struct pipe *p, const struct slot *s, const struct tfs_chunk *c)
{
	const struct tfs_backend *be = backend_of(p, c->dev);

	for (unsigned k = 0; k < s->n_spans; k++)
		if (!be->is_pinned(s->spans[k].ptr))
			return 0;
	return 1;
}

/*
 * Fills slot s with chunk c: past the cache when allowed and the engine agrees (into the tensor
 * itself when the chunk is one piece of one tensor), else pinned blocks when allowed and useful,
 * else the staging buffer.
 */
static ssize_t fill_slot(struct pipe *p, struct slot *s, const struct tfs_chunk *c,
			 struct tfs_error *err)
{
	int direct = c->dev.type == TFS_DEVICE_CPU ? p->direct_host : p->direct_cuda;
	ssize_t n;

	s->in_place = 0;
	if (c->dev.type == TFS_DEVICE_CPU && p->uncached) {
		/* Chunks are contiguous file ranges, so a chunk of one op is that op: the same bytes. */
		int one = !p->staging_only && c->op_end - c->op_begin == 1;

		n = tfs_engine_read_uncached(p->e, c->file, c->off,
					     one ? p->plan->ops[c->op_begin].dst : s->buf, c->len, err);
		if (n != -EAGAIN) {
			if (n >= 0) {
				s->in_place = one;
				atomic_fetch_add(&p->bytes_uncached, (uint64_t)n);
			}
			return n;
		}
	}
	if (direct) {
		n = tfs_engine_read_pinned(p->e, NULL, c->file, c->off, c->len, s->spans, p->max_spans,
					   &s->n_spans, err);
		if (n >= 0 && (uint64_t)n == c->len && !spans_usable(p, s, c)) {
			/* Some block is not page-locked for CUDA: stage this chunk instead. */
			char *dst = s->buf;

			for (unsigned k = 0; k < s->n_spans; k++) {
				memcpy(dst, s->spans[k].ptr, s->spans[k].len);
				dst += s->spans[k].len;
			}
			unpin(p, s);
		} else if (n >= 0 && s->n_spans) {
			atomic_fetch_add(&p->bytes_direct, (uint64_t)n);
		}
		if (n != -E2BIG)
			return n;
	}
	return tfs_engine_read(p->e, NULL, c->file, c->off, s->buf, c->len, err);
}

static int submit(struct pipe *p, const struct filled *f, struct tfs_error *err);

/*
 * Called with mu held by a reader that found no free slot: while the oldest filled slot is for
 * the host, copies it out (a memcpy, dropping mu meanwhile) and frees it, instead of waiting for
 * the one copier. So host copies (and the page faults on a fresh destination) spread over the
 * readers when copying is the bottleneck (a warm page cache), while a reader with a free slot
 * always reads first: under a slow disk, reads in flight stay as many as with the copier alone.
 * Returns 0, or the copy's error (already recorded in the pipe).
 */
static int help_copy(struct pipe *p, struct tfs_error *err)
{
	while (!p->rc && p->full_n && !p->n_free) {
		struct filled f = p->full[p->full_head];
		int rc;

		if (p->plan->chunks[f.chunk].dev.type != TFS_DEVICE_CPU)
			break;
		p->full_head = (p->full_head + 1) % p->n_slots;
		p->full_n--;
		pthread_mutex_unlock(&p->mu);
		rc = submit(p, &f, err);
		if (rc < 0) {
			unpin(p, &p->slots[f.slot]);
			pipe_fail(p, rc, err);
			pthread_mutex_lock(&p->mu);
			return rc;
		}
		unpin(p, &p->slots[f.slot]);
		pthread_mutex_lock(&p->mu);
		p->free_slots[p->n_free++] = f.slot;
		pthread_cond_broadcast(&p->cv_free);
	}
	return 0;
}

static void *reader_main(void *arg)
{
	struct pipe *p = arg;
	struct tfs_error err;

	for (;;) {
		const struct tfs_chunk *c;
		unsigned slot;
		size_t ci;
		ssize_t n;

		pthread_mutex_lock(&p->mu);
		while (!p->rc && p->next_chunk < p->plan->n_chunks && !p->n_free) {
			if (help_copy(p, &err) < 0) {
				pthread_mutex_unlock(&p->mu);
				goto out;
			}
			if (!p->rc && !p->n_free)
				pthread_cond_wait(&p->cv_free, &p->mu);
		}
		if (p->rc || p->next_chunk >= p->plan->n_chunks) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		/* Chunk after slot, so chunks are read roughly in disk order. */
		slot = p->free_slots[--p->n_free];
		ci = p->next_chunk++;
		if (p->next_chunk == p->plan->n_chunks) /* readers waiting for a slot may leave now */
			pthread_cond_broadcast(&p->cv_free);
		pthread_mutex_unlock(&p->mu);

		c = &p->plan->chunks[ci];
		n = fill_slot(p, &p->slots[slot], c, &err);
		if (n >= 0 && (uint64_t)n != c->len)
			n = tfs_error_set(&err, -EIO, "%s: short read at %" PRIu64 ": %zd of %" PRIu64
					  " bytes", tfs_catalog_file(p->cat, c->file)->path, c->off, n,
					  c->len);
		if (n < 0) {
			unpin(p, &p->slots[slot]);
			pipe_fail(p, (int)n, &err);
			break;
		}
		pthread_mutex_lock(&p->mu);
		p->full[(p->full_head + p->full_n) % p->n_slots] = (struct filled){ slot, ci };
		p->full_n++;
		pthread_cond_broadcast(&p->cv_full);
		pthread_mutex_unlock(&p->mu);
	}
out:
	pthread_mutex_lock(&p->mu);
	p->readers_left--;
	pthread_cond_broadcast(&p->cv_full);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* The chunk's planned copies with their sources resolved into the slot's buffer or blocks. */
static size_t resolve(const struct pipe *p, const struct slot *s, const struct tfs_chunk *c)
{
	const struct tfs_plan_op *op = p->plan->ops + c->op_begin, *end = p->plan->ops + c->op_end;
	uint64_t kstart = 0;          /* chunk offset where span k begins */
	unsigned k = 0;
	size_t n = 0;

	if (s->in_place)
		return 0;
	for (; op < end; op++) {
		uint64_t done = 0;

		if (!s->n_spans) {
			s->copies[n++] = (struct tfs_copy){ (char *)s->buf + op->src_off, op->dst, op->len };
			continue;
		}
		/* Ops come in chunk order, so spans are walked once; an op may cross blocks. */
		while (done < op->len) {
			uint64_t at = op->src_off + done, in, take;

			while (at >= kstart + s->spans[k].len)
				kstart += s->spans[k++].len;
			in = at - kstart;
			take = s->spans[k].len - in;
			if (take > op->len - done)
				take = op->len - done;
			s->copies[n++] = (struct tfs_copy){ (const char *)s->spans[k].ptr + in,
							    (char *)op->dst + done, take };
			done += take;
		}
	}
	return n;
}

/* Starts the copies of one filled slot: 1 when already done (host), 0 when queued (CUDA). */
static int submit(struct pipe *p, const struct filled *f, struct tfs_error *err)
{
	const struct tfs_chunk *c = &p->plan->chunks[f->chunk];
	const struct tfs_backend *be = backend_of(p, c->dev);
	struct slot *s = &p->slots[f->slot];
	size_t n = resolve(p, s, c);

	return be->submit(be == p->gpu ? p->queue : NULL, c->dev.index, f->slot, s->copies, n, err);
}

/* Only GPU slots are ever in flight (host copies finish in submit). */
static int slot_done(struct pipe *p, unsigned slot, int block, struct tfs_error *err)
{
	return p->gpu ? p->gpu->sync(p->queue, slot, block, err) : 1;
}

/* The copier: runs on the calling thread until every chunk is copied or something failed. */
static void copy_loop(struct pipe *p, unsigned *inflight)
{
	unsigned head = 0, n_in = 0;
	struct tfs_error err;
	struct filled f;
	int rc;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->rc && !p->full_n && p->readers_left && !n_in)
			pthread_cond_wait(&p->cv_full, &p->mu);
		if (p->rc) {
			pthread_mutex_unlock(&p->mu);
			return;         /* slots still in flight are drained by pipe_release */
		}
		if (p->full_n) {
			f = p->full[p->full_head];
			p->full_head = (p->full_head + 1) % p->n_slots;
			p->full_n--;
			pthread_mutex_unlock(&p->mu);
			rc = submit(p, &f, &err);
			if (rc < 0)
				goto fail;
			if (rc == 1)
				release_slot(p, f.slot);
			else
				inflight[(head + n_in++) % p->n_slots] = f.slot;
			/* Retire finished copies now, so readers get slots back without a lull. */
			while (n_in && (rc = slot_done(p, inflight[head], 0, &err)) != 0) {
				if (rc < 0)
					goto fail;
				release_slot(p, inflight[head]);
				head = (head + 1) % p->n_slots;
				n_in--;
			}
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		if (!n_in)
			return;         /* readers gone, nothing filled, nothing in flight: done */
		rc = slot_done(p, inflight[head], 1, &err);
		if (rc < 0)
			goto fail;
		release_slot(p, inflight[head]);
		head = (head + 1) % p->n_slots;
		n_in--;
	}
fail:
	pipe_fail(p, rc, &err);
}

/* The ring: staging buffers from the GPU backend (pinned) when a GPU is involved, so copies are
 * async. */
static int ring_alloc(struct pipe *p, struct tfs_error *err)
{
	size_t n_copies = p->plan->max_ops + p->max_spans;

	p->slots = calloc(p->n_slots, sizeof(*p->slots));
	p->free_slots = calloc(p->n_slots, sizeof(*p->free_slots));
	p->full = calloc(p->n_slots, sizeof(*p->full));
	if (!p->slots || !p->free_slots || !p->full)
		return tfs_error_set(err, -ENOMEM, "load: out of memory");
	for (unsigned i = 0; i < p->n_slots; i++) {
		struct slot *s = &p->slots[i];
		int rc;

		s->spans = calloc(p->max_spans, sizeof(*s->spans));
		s->copies = calloc(n_copies, sizeof(*s->copies));
		if (!s->spans || !s->copies)
			return tfs_error_set(err, -ENOMEM, "load: out of memory");
		rc = p->staging->host_alloc(p->plan->max_chunk, &s->buf, err);
		if (rc < 0)
			return rc;
		p->free_slots[p->n_free++] = i;
	}
	return 0;
}

/* Waits for queued copies (they read the ring), then unpins blocks and frees ring and streams. */
static void pipe_release(struct pipe *p)
{
	if (p->gpu)
		p->gpu->close(p->queue);
	p->queue = NULL;
	for (unsigned i = 0; p->slots && i < p->n_slots; i++) {
		struct slot *s = &p->slots[i];

		unpin(p, s);
		if (s->buf)
			p->staging->host_free(s->buf);
		free(s->spans);
		free(s->copies);
	}
	free(p->slots);
	free(p->free_slots);
	free(p->full);
	p->slots = NULL;
	p->free_slots = NULL;
	p->full = NULL;
}

/* Starts the readers, copies on this thread, joins. Returns 0 or the first error. */
static int run_pipeline(struct pipe *p, unsigned threads, struct tfs_error *err)
{
	pthread_t *tids = calloc(threads, sizeof(*tids));
	unsigned *inflight = calloc(p->n_slots, sizeof(*inflight)), started = 0;
	int rc;

	if (!tids || !inflight) {
		free(tids);
		free(inflight);
		return tfs_error_set(err, -ENOMEM, "load: out of memory");
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_free, NULL);
	pthread_cond_init(&p->cv_full, NULL);
	p->readers_left = threads;
	for (; started < threads; started++) {
		rc = -pthread_create(&tids[started], NULL, reader_main, p);
		if (rc < 0) {
			struct tfs_error e2;

			tfs_error_set(&e2, rc, "load: cannot start reader thread: %s", strerror(-rc));
			pthread_mutex_lock(&p->mu);
			p->readers_left -= threads - started;
			pthread_mutex_unlock(&p->mu);
			pipe_fail(p, rc, &e2);
			break;
		}
	}
	copy_loop(p, inflight);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_cond_destroy(&p->cv_full);
	pthread_cond_destroy(&p->cv_free);
	pthread_mutex_destroy(&p->mu);
	rc = p->rc;
	if (rc < 0 && err)
		*err = p->err;
	free(inflight);
	free(tids);
	return rc;
}

/* Decides slot sizes and the direct-from-cache paths, opens CUDA streams, allocates the ring. */
static int pipe_setup(struct pipe *p, const struct tfs_load_opts *o, struct tfs_load_result *r,
		      struct tfs_error *err)
{
	struct tfs_stats st;
	int gpu = 0, rc;

	/* Small loads get a smaller ring: pinned memory is slow to allocate. */
	p->n_slots = p->plan->n_chunks < o->staging_buffers ? (unsigned)p->plan->n_chunks
							     : o->staging_buffers;
	if (p->n_slots < 2)
		p->n_slots = 2;
	for (size_t s = 0; s < r->report.n_devices; s++)
		gpu |= r->devices[s].device.type == TFS_DEVICE_CUDA;
	p->host = p->staging = tfs_backend_host();
	if (gpu) {
		/* Already loaded by tfs_plan_gpus: this cannot fail unless that check was skipped. */
		rc = tfs_backend_get(TFS_DEVICE_CUDA, &p->gpu, err);
		if (rc < 0)
			return rc;
		p->staging = p->gpu;
	}
	tfs_engine_stats(p->e, &st);
	/* A chunk of L bytes at any offset touches at most L / bs + 2 blocks. */
	p->max_spans = (unsigned)(p->plan->max_chunk / (st.block_size ? st.block_size : 4096) + 2);
	p->direct_host = !o->staging_only;
	p->direct_cuda = !o->staging_only && st.pinning && strncmp(st.pinning, "cuda", 4) == 0;
	p->uncached = !o->through_cache;
	p->staging_only = o->staging_only;
	if (p->gpu) {
		int devs[r->report.n_devices];
		size_t nd = 0;

		for (size_t s = 0; s < r->report.n_devices; s++)
			if (r->devices[s].device.type == TFS_DEVICE_CUDA)
				devs[nd++] = r->devices[s].device.index;
		rc = p->gpu->open(devs, nd, o->streams, p->n_slots, &p->queue, err);
		if (rc < 0)
			return rc;
	}
	r->report.threads = p->plan->n_chunks < o->threads ? (unsigned)p->plan->n_chunks : o->threads;
	r->report.staging_buffers = p->plan->n_chunks ? p->n_slots : 0;
	r->report.staging_bytes = p->plan->max_chunk;
	r->report.streams = p->gpu ? o->streams : 0;
	r->report.staging = p->gpu ? "cuda-pinned" : "host";
	return p->plan->n_chunks ? ring_alloc(p, err) : 0;
}

int tfs_load(const struct tfs_catalog *cat, struct tfs_engine *e, const struct tfs_selection *sel,
	     const struct tfs_load_opts *o, struct tfs_load_result **out, struct tfs_error *err)
{
	size_t n = tfs_catalog_tensor_count(cat);
	struct tfs_device *place = calloc(n ? n : 1, sizeof(*place));
	struct tfs_load_result *r = NULL;
	struct tfs_plan plan = { 0 };
	struct pipe p = { .cat = cat, .e = e, .plan = &plan };
	struct tfs_load_opts opts;
	struct tfs_stats s0, s1;
	int rc, ngpu = 0;
	double t0 = now(), t1;

	if (o)
		opts = *o;
	else
		tfs_load_opts_init(&opts);
	if (!opts.staging_bytes && tfs_catalog_file_count(cat) &&
	    tfs_source_is_url(tfs_catalog_file(cat, 0)->path)) {
		/* A URL's chunks are range GETs: one engine block each (the cache's unit, what the
		 * mount asks too). 8 MiB GETs left connections idle while the last ones of a tensor
		 * trickled in: `tensorfs load --threads 8` of 1 GiB from nginx on 127.0.0.1, 9
		 * alternating runs, medians 0.448 s with 8 MiB chunks, 0.389 s with 2 MiB. */
		struct tfs_stats st;

		tfs_engine_stats(e, &st);
		opts.staging_bytes = st.block_size;
	}
	if (!place) {
		rc = tfs_error_set(err, -ENOMEM, "load: out of memory");
		goto fail;
	}
	rc = tfs_plan_opts(&opts, err);
	if (rc == 0)
		rc = tfs_plan_gpus(sel, &opts, &ngpu, err);
	if (rc == 0)
		rc = tfs_result_new(&r, err);
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (!tfs_selection_place(sel, tfs_catalog_tensor(cat, i)->key, opts.device, &place[i]))
			place[i].type = TFS_DEVICE_DISK;
	rc = tfs_plan_alloc(cat, place, ngpu, opts.per_tensor, r, err);
	if (rc == 0)
		rc = tfs_plan_chunks(r, opts.staging_bytes, &plan, err);
	if (rc == 0)
		rc = pipe_setup(&p, &opts, r, err);
	if (rc < 0)
		goto fail;
	tfs_engine_stats(e, &s0);
	t1 = now();
	r->report.setup_seconds = t1 - t0;
	if (plan.n_chunks) {
		rc = run_pipeline(&p, r->report.threads, err);
		if (rc < 0)
			goto fail;
	}
	pipe_release(&p);       /* waits for the last copies, so they count in `seconds` */
	tfs_engine_stats(e, &s1);
	r->report.seconds = now() - t1;
	r->report.gbps = r->report.seconds > 0 ? (double)r->report.bytes / r->report.seconds / 1e9 : 0;
	r->report.bytes_direct = atomic_load(&p.bytes_direct);
	r->report.bytes_uncached = atomic_load(&p.bytes_uncached);
	r->report.bytes_from_disk = s1.bytes_from_disk - s0.bytes_from_disk;
	r->report.cache_hits = s1.cache_hits - s0.cache_hits;
	r->report.cache_misses = s1.cache_misses - s0.cache_misses;
	tfs_plan_free(&plan);
	free(place);
	*out = r;
	return 0;
fail:
	pipe_release(&p);
	tfs_load_free(r);
	tfs_plan_free(&plan);
	free(place);
	return rc;
}
