/*
 * engine.c - the one path by which checkpoint bytes are read (docs/DESIGN.md, "Engine rules").
 *
 * Data flow of tfs_engine_read(): check that the file is unchanged (reader.c) -> split the range
 * into cache blocks -> look each up (cache.c): resident blocks are pinned, missing ones are queued
 * to the reader pool at demand priority, blocks another read is loading are waited for (and their
 * job promoted) -> ask the stream (stream.c) which blocks to prefetch and queue those at background
 * priority -> copy each block out as it arrives and unpin it.
 *
 * Defaults and the strategy rule (tfs_engine_open):
 *  - threads: max(4, 2 x cores), at most 64: reads are I/O bound, more in flight keeps disks busy.
 *  - block_size: 2 MiB. cache_bytes: a quarter of MemTotal, at most 32 GiB (1 GiB if unknown).
 *  - readahead_bytes: 16 MiB, the largest window; windows never exceed a quarter of the cache so
 *    prefetch cannot thrash a small one.
 *  - lazy: readahead stays modest (1 block, growing to readahead/4): FUSE hands us 128 KiB reads, and
 *    without any readahead every 2 MiB block of a sequential `cat` would be a synchronous miss.
 *  - streaming: readahead starts at readahead/4 (>= 2 blocks) and grows to readahead.
 *  - eager: streaming's readahead plus a background warm-up of as much as the budget holds (warm.c).
 *  - auto: eager in the learned order when a profile of earlier readers was loaded (profile.c);
 *    else eager when every shard block fits in the budget (switching to streaming when the first
 *    reads skip around a cold checkpoint, auto_observe), else streaming; lazy with no shards.
 *
 * Locking: counters are atomics; the cache, reader and streams lock themselves (see their files).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "minmax.h"
#include "error.h"
#include "fmt.h"

#define MAX_PINNED_PER_READ 64   /* blocks one read pins at a time: bounds its share of the cache */

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

static uint64_t default_cache_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0, v;

	if (!mem)
		return 1ull << 30;
	v = mem / 4;
	return v > (32ull << 30) ? 32ull << 30 : v;
}

/* Fills defaults into e->opts and validates it; messages name the command-line option. */
static int resolve_opts(struct tfs_engine *e, struct tfs_error *err)
{
	struct tfs_engine_opts *o = &e->opts;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if ((unsigned)o->strategy > TFS_STRATEGY_AUTO)
		return tfs_error_set(err, -EINVAL, "--strategy %d: unknown (lazy, eager, streaming, auto)",
				     (int)o->strategy);
	if (o->threads == 0)
		o->threads = ncpu > 2 ? (ncpu * 2 > 64 ? 64 : (unsigned)ncpu * 2) : 4;
	if (o->threads > 1024)
		return tfs_error_set(err, -EINVAL, "--threads %u: must be between 1 and 1024",
				     o->threads);
	if (o->block_size == 0)
		o->block_size = 2ull << 20;
	if (o->block_size < 4096 || (o->block_size & (o->block_size - 1)))
		return tfs_error_set(err, -EINVAL,
				     "--block-size %" PRIu64 ": must be a power of two >= 4096",
				     o->block_size);
	if (o->block_size > (1ull << 30))
		return tfs_error_set(err, -EINVAL, "--block-size %" PRIu64 ": must be at most 1 GiB",
				     o->block_size);
	if (o->cache_bytes == 0) {
		o->cache_bytes = default_cache_bytes();
		if (o->cache_bytes < 4 * o->block_size)
			o->cache_bytes = 4 * o->block_size;
	}
	if (o->cache_bytes < o->block_size)
		return tfs_error_set(err, -EINVAL,
				     "--cache-size %" PRIu64 ": must be at least the block size (%" PRIu64 ")",
				     o->cache_bytes, o->block_size);
	o->cache_bytes -= o->cache_bytes % o->block_size; /* the budget counts whole blocks */
	if (o->readahead_bytes == 0)
		o->readahead_bytes = 16ull << 20;
	if (o->readahead_bytes > (4ull << 30))
		return tfs_error_set(err, -EINVAL, "--readahead %" PRIu64 ": must be at most 4 GiB",
				     o->readahead_bytes);
	o->readahead_bytes = (o->readahead_bytes + o->block_size - 1) / o->block_size * o->block_size;
	e->bs = o->block_size;
	return 0;
}

/* What a whole file costs the cache budget: full blocks, and the last one what the cache charges
 * for its bytes (its pages only, cache.h). */
static uint64_t file_charge(const struct tfs_engine *e, uint64_t size)
{
	uint64_t tail = size % e->bs;

	return size / e->bs * e->bs + (tail ? tfs_cache_charge(e->cache, tail) : 0);
}

/* On the thread that found `file` changed: the watch thread tells the front end (as for an event),
 * so a change only a fetch can see (a remote file's) drops the kernel's copies too. Never on this
 * thread: it may be serving a read the front end's invalidation would wait for. */
static void on_reader_changed(void *ctx, uint32_t file)
{
	struct tfs_engine *e = ctx;

	pthread_mutex_lock(&e->watch_lock);
	if (e->watch)
		tfs_watch_report(e->watch, file);
	pthread_mutex_unlock(&e->watch_lock);
}

/* Resolves auto and sets the readahead window bounds (see the file header). */
static void pick_strategy(struct tfs_engine *e)
{
	uint64_t bs = e->bs, shard_bytes = 0, charge = 0, cap, ra = e->opts.readahead_bytes;
	const struct tfs_profile_run *runs;
	char a[32], b[32];

	for (size_t i = 0; i < e->n_files; i++)
		if (e->files[i]->is_shard) {
			shard_bytes += e->files[i]->size;
			charge += file_charge(e, e->files[i]->size);
		}
	tfs_fmt_bytes(shard_bytes, a, sizeof(a));
	tfs_fmt_bytes(e->opts.cache_bytes, b, sizeof(b));
	e->strategy = e->opts.strategy;
	if (e->strategy != TFS_STRATEGY_AUTO) {
		snprintf(e->strategy_reason, sizeof(e->strategy_reason), "requested");
	} else if (shard_bytes == 0) {
		e->strategy = TFS_STRATEGY_LAZY;
		snprintf(e->strategy_reason, sizeof(e->strategy_reason),
			 "auto: no tensor data to warm or stream");
	} else if (tfs_profile_order(e->profile, &runs)) {
		e->strategy = TFS_STRATEGY_EAGER;
		atomic_store(&e->gate, TFS_GATE_WAIT);
		snprintf(e->strategy_reason, sizeof(e->strategy_reason),
			 "auto: readers of this checkpoint (%s, cache budget %s) left a learned order: "
			 "warm in that order from the first read that follows it, past the budget", a, b);
	} else if (charge <= e->opts.cache_bytes) {
		e->strategy = TFS_STRATEGY_EAGER;
		/* No learned order: a reader that jumps around a cold checkpoint would compete
		 * with a warm-up in file order, so the first reads decide (auto_observe). */
		atomic_store(&e->auto_live, 1);
		snprintf(e->strategy_reason, sizeof(e->strategy_reason),
			 "auto: checkpoint (%s) fits in the cache budget (%s): warm it all at open "
			 "(streaming instead if the first reads skip around a cold cache)", a, b);
	} else {
		e->strategy = TFS_STRATEGY_STREAMING;
		snprintf(e->strategy_reason, sizeof(e->strategy_reason),
			 "auto: checkpoint (%s) exceeds the cache budget (%s): stream with readahead",
			 a, b);
	}
	atomic_store(&e->reason, e->strategy_reason);
	cap = e->opts.cache_bytes / 4 / bs * bs;
	if (e->strategy == TFS_STRATEGY_LAZY) {
		e->ra_init = bs;
		e->ra_max = ra / 4 > bs ? ra / 4 / bs * bs : bs;
	} else {
		e->ra_max = ra;
		e->ra_init = ra / 4 > 2 * bs ? ra / 4 / bs * bs : 2 * bs;
	}
	if (e->ra_max > cap)
		e->ra_max = cap;
	if (e->ra_init > e->ra_max)
		e->ra_init = e->ra_max;
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
	pthread_mutex_init(&e->warm_lock, NULL);
	pthread_mutex_init(&e->watch_lock, NULL);
	pthread_cond_init(&e->warm_cond, NULL);
	rc = resolve_opts(e, err);
	if (rc < 0)
		goto fail;
	e->n_files = tfs_catalog_file_count(cat);
	e->files = calloc(e->n_files ? e->n_files : 1, sizeof(*e->files));
	e->seq_end = calloc(e->n_files ? e->n_files : 1, sizeof(*e->seq_end));
	e->tensor_first = calloc(e->n_files + 1, sizeof(*e->tensor_first));
	if (!e->files || !e->seq_end || !e->tensor_first) {
		rc = tfs_error_set(err, -ENOMEM, "engine: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < e->n_files; i++)
		e->files[i] = tfs_catalog_file(cat, i);
	/* The catalog sorts tensors by (file, offset): each file's are one run of it. */
	for (size_t i = 0, n = tfs_catalog_tensor_count(cat); i < n; i++)
		e->tensor_first[tfs_catalog_tensor(cat, i)->file + 1]++;
	for (size_t f = 0; f < e->n_files; f++)
		e->tensor_first[f + 1] += e->tensor_first[f];
	rc = tfs_profile_open(e->opts.profile_path, e->files, e->n_files, e->bs, &e->profile, err);
	if (rc < 0)
		goto fail;
	e->opts.profile_path = NULL; /* the caller's string; the profile keeps its own copy */
	rc = tfs_cache_open(e->bs, e->opts.cache_bytes, &e->cache, err);
	if (rc < 0)
		goto fail;
	pick_strategy(e); /* after the cache: it charges files as the cache will */
	tfs_cache_set_files(e->cache, e->files, e->n_files);
	rc = tfs_reader_open(e->cache, e->files, e->n_files, e->bs, e->opts.threads,
			     tfs_warm_block_done, e, &e->reader, err);
	if (rc < 0)
		goto fail;
	tfs_reader_on_changed(e->reader, on_reader_changed, e);
	if (!e->opts.buffered_io)
		tfs_reader_enable_direct(e->reader);
	if (e->strategy == TFS_STRATEGY_EAGER) {
		rc = tfs_warm_start(e, err);
		if (rc < 0)
			goto fail;
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
	tfs_engine_unwatch(e);         /* its events check files through the reader */
	tfs_warm_stop(e);              /* it submits to the reader: stop it first */
	tfs_reader_close(e->reader);   /* fails queued jobs; their callbacks touch warm_lock */
	tfs_cache_close(e->cache);
	/* A reader that did not follow the learned order and read less than it holds is another
	 * consumer (one tensor in ten): the order of the usual one stays. */
	if (e->profile && atomic_load(&e->gate) == TFS_GATE_SHUT &&
	    tfs_profile_blocks(e->profile, 0) < tfs_profile_blocks(e->profile, 1))
		tfs_profile_discard(e->profile);
	tfs_profile_close(e->profile); /* writes what this engine's readers taught it */
	pthread_cond_destroy(&e->warm_cond);
	pthread_mutex_destroy(&e->warm_lock);
	pthread_mutex_destroy(&e->watch_lock);
	free(e->seq_end);
	free(e->tensor_first);
	free(e->change_told);
	free(e->files);
	free(e);
}

/* On the watch thread: an event named `file`. Something wrote to, renamed or removed it, or only
 * opened it for writing: the file checks decide, and a file found changed is told once. */
static void on_watch_event(void *ctx, uint32_t file)
{
	struct tfs_engine *e = ctx;

	tfs_reader_suspect(e->reader, file); /* so this check runs in full */
	if (tfs_reader_check_file(e->reader, file, NULL) == 0)
		return;
	if (!atomic_exchange(&e->change_told[file], 1) && e->change_fn)
		e->change_fn(e->change_ctx, file);
}

int tfs_engine_watch(struct tfs_engine *e, tfs_change_fn fn, void *ctx, struct tfs_error *err)
{
	struct tfs_watch *w;
	int rc;

	if (e->watch)
		return tfs_error_set(err, -EBUSY, "engine: already watching its files");
	if (!e->change_told)
		e->change_told = calloc(e->n_files ? e->n_files : 1, sizeof(*e->change_told));
	if (!e->change_told)
		return tfs_error_set(err, -ENOMEM, "engine: out of memory");
	e->change_fn = fn;
	e->change_ctx = ctx;
	rc = tfs_watch_open(e->files, e->n_files, on_watch_event, e, &w, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&e->watch_lock);
	e->watch = w;
	pthread_mutex_unlock(&e->watch_lock);
	tfs_reader_watched(e->reader, 1); /* reads stop stat'ing their file each time */
	return 0;
}

void tfs_engine_unwatch(struct tfs_engine *e)
{
	struct tfs_watch *w = e->watch;

	if (!w)
		return;
	tfs_reader_watched(e->reader, 0);
	/* Detached first: its thread may be waiting for the lock in on_reader_changed. */
	pthread_mutex_lock(&e->watch_lock);
	e->watch = NULL;
	pthread_mutex_unlock(&e->watch_lock);
	tfs_watch_close(w);
}

struct tfs_cache *tfs_engine_cache(struct tfs_engine *e)
{
	return e->cache;
}

void tfs_engine_region(const struct tfs_engine *e, uint32_t file, uint64_t off, uint64_t *lo,
		       uint64_t *hi)
{
	size_t a = e->tensor_first[file], z = e->tensor_first[file + 1];
	const struct tfs_tensor *t = NULL;

	/* The last tensor starting at or before off. */
	while (a < z) {
		size_t mid = a + (z - a) / 2;

		if (tfs_catalog_tensor(e->cat, mid)->offset <= off)
			a = mid + 1;
		else
			z = mid;
	}
	if (a > e->tensor_first[file])
		t = tfs_catalog_tensor(e->cat, a - 1);
	if (t && off < t->offset + t->length) {
		*lo = t->offset;
		*hi = t->offset + t->length;
		return;
	}
	*lo = t ? t->offset + t->length : 0;
	*hi = a < e->tensor_first[file + 1] ? tfs_catalog_tensor(e->cat, a)->offset
					     : e->files[file]->size;
}

/* The end of block `index`'s fill when fills stay below `limit` (a file offset): offset in the
 * block, a page multiple (the cache clamps it to the file's end). */
static uint64_t fill_end(const struct tfs_engine *e, uint64_t index, uint64_t limit)
{
	uint64_t bstart = index * e->bs;

	if (limit >= bstart + e->bs)
		return e->bs;
	return limit > bstart ? (limit - bstart + 4095) & ~4095ull : 0;
}

/*
 * One read job takes at most this many bytes of consecutive blocks: one disk request where it
 * would be one per block (a tensor of 2 MiB spans two or three 2 MiB blocks), and on a
 * throttled disk each request counts against its I/O rate. 4 MiB: one request on this VM's disk
 * (max_sectors_kb 4096); more would be split anyway.
 */
#define CHAIN_BYTES (4ull << 20)

/*
 * Queues the fills of blocks b[0..n) (each TFS_CACHE_FILL), consecutive blocks whose fill ranges
 * meet going into one job of at most CHAIN_BYTES; a job holding any of b[0..n_high) is a demand
 * job (high priority).
 */
static void submit_fills(struct tfs_engine *e, struct tfs_block **b, unsigned n, unsigned n_high)
{
	unsigned i = 0, chains = n > 1 && tfs_reader_chains(e->reader, b[0]->file);

	while (i < n) {
		unsigned j = i + 1;
		uint64_t bytes = b[i]->fhi - b[i]->flo;

		while (chains && j < n && j - i < TFS_READER_CHAIN_MAX &&
		       b[j]->index == b[j - 1]->index + 1 &&
		       b[j - 1]->fhi == e->bs && b[j]->flo == 0 &&
		       bytes + (b[j]->fhi - b[j]->flo) <= CHAIN_BYTES) {
			bytes += b[j]->fhi - b[j]->flo;
			j++;
		}
		tfs_reader_submit_chain(e->reader, b + i, j - i, i < n_high);
		i = j;
	}
}

/*
 * Queues the demand fills lead[0..n_lead) (blocks of `file` in order, each TFS_CACHE_FILL, pinned
 * by the caller) and prefetches blocks [first, end) at background priority, filling none past
 * the file offset `limit`, and stopping at the first refusal. Prefetched blocks that follow the
 * last demand fill go into the same job: one disk request for a reader's block and the next ones.
 */
static void fill_and_prefetch(struct tfs_engine *e, uint32_t file, struct tfs_block **lead,
			      unsigned n_lead, uint64_t first, uint64_t end, uint64_t limit)
{
	struct tfs_block *run[MAX_PINNED_PER_READ + TFS_READER_CHAIN_MAX];
	unsigned n = n_lead; /* run[0..n): to queue; those from n_lead on are held here */

	memcpy(run, lead, n_lead * sizeof(*run));
	for (uint64_t i = first; i < end; i++) {
		uint64_t size = e->files[file]->size, off = i * e->bs, hi = fill_end(e, i, limit);
		struct tfs_block *b;
		int rc;

		if (hi == 0)
			break; /* past the limit */
		/* A range the page cache holds is spliced or copied from there when asked for;
		 * prefetching it would add a copy and spend budget for nothing. */
		if (off < size && tfs_reader_resident(e->reader, file, off,
						      tfs_min_u64(size - off, hi)))
			rc = -EEXIST;
		else
			rc = tfs_cache_lookup_range(e->cache, file, i, TFS_ORIGIN_PREFETCH, 0, hi, 0,
						    hi, &b);
		if (rc == TFS_CACHE_FILL)
			run[n++] = b;
		if (rc < 0 || n == sizeof(run) / sizeof(run[0])) { /* this run of new blocks ends */
			submit_fills(e, run, n, n_lead);
			while (n > n_lead)
				tfs_cache_release(e->cache, run[--n]);
			n = n_lead = 0;
		}
		if (rc < 0 && rc != -EEXIST)
			break; /* no room prefetch may take: the rest would be refused too */
	}
	submit_fills(e, run, n, n_lead);
	while (n > n_lead)
		tfs_cache_release(e->cache, run[--n]);
}

#define AUTO_SAMPLE 16  /* first reads of streams that decide auto's eager-or-streaming */

/*
 * auto, eager without a learned order: watches the first read of each of the first AUTO_SAMPLE
 * streams. When at least half of them jumped out of file order into blocks neither the cache nor
 * the page cache held, the readers follow their own order over a cold checkpoint: a warm-up in file
 * order would take the disk from them, so it stops and reads go on as streaming.
 */
static void auto_observe(struct tfs_engine *e, int note, uint32_t file, uint64_t off, size_t len)
{
	unsigned seen, cold;
	uint64_t bs = e->bs;

	if (!atomic_load(&e->auto_live) || !(note & TFS_NOTE_FIRST))
		return;
	cold = !(note & TFS_NOTE_SEQ) && !tfs_cache_resident(e->cache, file, off / bs) &&
	       !tfs_reader_resident(e->reader, file, off, len < bs ? len : bs);
	if (cold)
		cold = atomic_fetch_add(&e->auto_cold_random, 1) + 1;
	else
		cold = atomic_load(&e->auto_cold_random);
	seen = atomic_fetch_add(&e->auto_seen, 1) + 1;
	if (cold * 2 >= AUTO_SAMPLE) {
		if (!atomic_exchange(&e->auto_live, 0)) /* another read decided first */
			return;
		snprintf(e->switch_reason, sizeof(e->switch_reason),
			 "auto: %u of the first %u reads skipped around a cold checkpoint: warm-up "
			 "in file order stopped, streaming", cold, seen);
		atomic_store(&e->strategy, TFS_STRATEGY_STREAMING);
		atomic_store(&e->reason, e->switch_reason);
		tfs_warm_abandon(e, " (stopped: readers skip around; streaming)\n");
	} else if (seen >= AUTO_SAMPLE) {
		atomic_store(&e->auto_live, 0); /* readers follow file order, or it is warm: eager */
	}
}

/* The part [*from, *to) of the read [off, end) that block `index` holds (file offsets). */
static void block_part(const struct tfs_engine *e, uint64_t index, uint64_t off, uint64_t end,
		       uint64_t *from, uint64_t *to)
{
	uint64_t bstart = index * e->bs;

	*from = off > bstart ? off : bstart;
	*to = end < bstart + e->bs ? end : bstart + e->bs;
}

/*
 * Pins block `index` of `file` for a demand read of [off, end); returns the lookup's result (a
 * FILL is the caller's to submit) or -errno with a message. A read fills only what lies inside
 * [bound_lo, bound_hi) of the file (the tensor a handle reads: tfs_stream_fill_bound), so the
 * block a tensor shares with its neighbours is not read for them now (cache.h: windows).
 */
static int pin_block(struct tfs_engine *e, uint32_t file, uint64_t index, uint64_t off,
		     uint64_t end, uint64_t bound_lo, uint64_t bound_hi, struct tfs_block **b,
		     struct tfs_error *err)
{
	uint64_t bstart = index * e->bs, from, to;
	uint64_t fill_lo = bound_lo > bstart ? bound_lo - bstart : 0;
	int rc;

	block_part(e, index, off, end, &from, &to);
	rc = tfs_cache_lookup_range(e->cache, file, index, TFS_ORIGIN_DEMAND, from - bstart,
				    to - bstart, fill_lo, fill_end(e, index, bound_hi), b);
	if (rc == TFS_CACHE_LOADING)
		tfs_reader_promote(e->reader, *b);
	if (rc < 0)
		return tfs_error_set(err, rc, "%s: cache: %s", e->files[file]->path, strerror(-rc));
	return rc;
}

/* Releases a span's block once its bytes were copied out (they count as read: cache.h). */
static void release_span(struct tfs_engine *e, const struct tfs_span *sp)
{
	tfs_cache_release_read(e->cache, sp->blk,
			       (uint64_t)((const uint8_t *)sp->ptr - sp->blk->data), sp->len);
}

/* Waits for a pinned block; on failure formats the message. */
static int wait_block(struct tfs_engine *e, struct tfs_block *b, struct tfs_error *err)
{
	const struct tfs_file *f = e->files[b->file];
	int rc = tfs_cache_wait(e->cache, b);

	if (rc == 0)
		return 0;
	if (tfs_reader_file_changed(e->reader, b->file))
		return tfs_error_set(err, -EIO, "%s: changed since it was opened", f->path);
	if (tfs_reader_last_error(e->reader, b->file, rc, err))
		return rc; /* the source's own words: "URL: gave up after 11 attempts ...: HTTP 503" */
	return tfs_error_set(err, rc, "%s: read at %" PRIu64 ": %s", f->path, b->index * e->bs,
			     strerror(-rc));
}

void tfs_engine_note_read(struct tfs_engine *e, uint32_t file, uint64_t off, size_t len)
{
	tfs_profile_note(e->profile, file, off / e->bs, (off + len - 1) / e->bs + 1);
	if (atomic_load(&e->gate) == TFS_GATE_WAIT)
		tfs_warm_gate_observe(e, file, off / e->bs);
}

/*
 * The common start of a read: checks the file index, clamps *len to the file, refuses (-E2BIG, no
 * side effect) a range of more than max_blocks blocks, counts the read and
 * refuses a file that changed. Returns 1 to go on, 0 when there is nothing to read, or -errno.
 */
static int read_begin(struct tfs_engine *e, uint32_t file, uint64_t off, size_t *len,
		      uint64_t max_blocks, struct tfs_error *err)
{
	const struct tfs_file *f;
	int rc;

	if (file >= e->n_files) {
		atomic_fetch_add(&e->errors, 1);
		return tfs_error_set(err, -EINVAL, "engine: no file #%" PRIu32, file);
	}
	f = e->files[file];
	if (off < f->size && *len > f->size - off)
		*len = (size_t)(f->size - off);
	if (off < f->size && *len &&
	    (off + *len - 1) / e->bs - off / e->bs + 1 > max_blocks)
		return -E2BIG;
	atomic_fetch_add(&e->reads, 1);
	if (off >= f->size || *len == 0)
		return 0;
	rc = tfs_reader_check_file(e->reader, file, err);
	if (rc < 0) {
		atomic_fetch_add(&e->errors, 1);
		return rc;
	}
	tfs_engine_note_read(e, file, off, *len);
	return 1;
}

/* Where a read's fills may reach: the file offsets [lo, hi). */
struct bound {
	uint64_t lo, hi;
};

/* A block filled, or grown, for another reader's part may still lack ours; each retry grows it
 * by a piece (cache.h), so a few always do unless reads keep failing. */
#define PIN_TRIES 16

/*
 * Pins blocks [first, first+n) of `file` and describes their part of [off, end) in spans[0..n),
 * waiting for each. The prefetch [*pf_first, *pf_end) is queued after the demand jobs, so they go
 * first, and then cleared so a read issues it once. On error nothing stays pinned.
 */
static int pin_spans(struct tfs_engine *e, uint32_t file, uint64_t first, uint64_t n, uint64_t off,
		     uint64_t end, struct bound bd, struct tfs_span *spans, uint64_t *pf_first,
		     uint64_t *pf_end, struct tfs_error *err)
{
	const struct tfs_file *f = e->files[file];
	struct tfs_block *fills[MAX_PINNED_PER_READ];
	uint64_t bs = e->bs, got = 0;
	unsigned n_fills = 0;
	int rc = 0;

	for (; got < n; got++) {
		rc = pin_block(e, file, first + got, off, end, bd.lo, bd.hi, &spans[got].blk, err);
		if (rc < 0)
			break;
		if (rc == TFS_CACHE_FILL)
			fills[n_fills++] = spans[got].blk;
		rc = 0;
	}
	fill_and_prefetch(e, file, fills, n_fills, *pf_first, *pf_end, bd.hi);
	*pf_first = *pf_end = 0;
	for (uint64_t k = 0; k < got && rc == 0; k++) {
		uint64_t index = first + k, bstart = index * bs, from, to;

		block_part(e, index, off, end, &from, &to);
		for (int tries = 1; rc == 0; tries++) {
			rc = wait_block(e, spans[k].blk, err);
			if (rc < 0 || tfs_cache_holds(e->cache, spans[k].blk, from - bstart, to - bstart))
				break;
			tfs_cache_release(e->cache, spans[k].blk);
			spans[k].blk = NULL;
			if (tries == PIN_TRIES) {
				rc = tfs_error_set(err, -EIO, "%s: short block at %" PRIu64, f->path,
						   bstart);
			} else {
				rc = pin_block(e, file, index, off, end, bd.lo, bd.hi, &spans[k].blk,
					       err);
				if (rc == TFS_CACHE_FILL)
					tfs_reader_submit(e->reader, spans[k].blk, 1);
				if (rc > 0)
					rc = 0;
			}
		}
		if (rc == 0) {
			spans[k].ptr = spans[k].blk->data + (from - bstart);
			spans[k].len = (size_t)(to - from);
		}
	}
	if (rc < 0)
		for (uint64_t k = 0; k < got; k++)
			if (spans[k].blk)
				tfs_cache_release(e->cache, spans[k].blk);
	return rc;
}

/* The bound of fills for a read through s, after tfs_stream_note (none without a stream). */
static struct bound read_bound(struct tfs_stream *s, uint32_t file)
{
	struct bound bd = { 0, UINT64_MAX };

	if (s)
		tfs_stream_fill_bound(s, file, &bd.lo, &bd.hi);
	return bd;
}

ssize_t tfs_engine_read(struct tfs_engine *e, struct tfs_stream *s, uint32_t file, uint64_t off,
			void *buf, size_t len, struct tfs_error *err)
{
	struct tfs_span spans[MAX_PINNED_PER_READ];
	uint64_t bs = e->bs, end, last, pf_first = 0, pf_end = 0, per_batch;
	int rc = read_begin(e, file, off, &len, UINT64_MAX, err);
	struct bound bd;

	if (rc <= 0)
		return rc;
	end = off + len;
	last = (end - 1) / bs;
	if (s)
		auto_observe(e, tfs_stream_note(s, file, off, end, &pf_first, &pf_end), file, off, len);
	bd = read_bound(s, file);
	/* Pin at most half the budget per batch so one huge read cannot starve the cache. */
	per_batch = e->opts.cache_bytes / bs / 2;
	if (per_batch < 1)
		per_batch = 1;
	if (per_batch > MAX_PINNED_PER_READ)
		per_batch = MAX_PINNED_PER_READ;
	for (uint64_t i = off / bs; i <= last; i += per_batch) {
		uint64_t n = last - i + 1 < per_batch ? last - i + 1 : per_batch;

		rc = pin_spans(e, file, i, n, off, end, bd, spans, &pf_first, &pf_end, err);
		if (rc < 0) {
			atomic_fetch_add(&e->errors, 1);
			return rc;
		}
		for (uint64_t k = 0; k < n; k++) {
			uint64_t from, to;

			block_part(e, spans[k].blk->index, off, end, &from, &to);
			memcpy((char *)buf + (from - off), spans[k].ptr, spans[k].len);
			release_span(e, &spans[k]);
		}
	}
	atomic_fetch_add(&e->bytes_served, len);
	return (ssize_t)len;
}

ssize_t tfs_engine_read_pinned(struct tfs_engine *e, struct tfs_stream *s, uint32_t file,
			       uint64_t off, size_t len, struct tfs_span *spans, unsigned max_spans,
			       unsigned *n_spans, struct tfs_error *err)
{
	uint64_t bs = e->bs, end, first, pf_first = 0, pf_end = 0;
	int rc;

	*n_spans = 0;
	/* No more blocks than one batch of pin_spans either: -E2BIG sends the caller to
	 * tfs_engine_read. */
	rc = read_begin(e, file, off, &len,
			tfs_min_u64(max_spans, MAX_PINNED_PER_READ), err);
	if (rc <= 0)
		return rc;
	end = off + len;
	first = off / bs;
	if (s)
		auto_observe(e, tfs_stream_note(s, file, off, end, &pf_first, &pf_end), file, off, len);
	rc = pin_spans(e, file, first, (end - 1) / bs - first + 1, off, end, read_bound(s, file),
		       spans, &pf_first, &pf_end, err);
	if (rc < 0) {
		atomic_fetch_add(&e->errors, 1);
		return rc;
	}
	*n_spans = (unsigned)((end - 1) / bs - first + 1);
	atomic_fetch_add(&e->bytes_served, len);
	return (ssize_t)len;
}

void tfs_engine_release_spans(struct tfs_engine *e, struct tfs_span *spans, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		release_span(e, &spans[k]);
}

void tfs_engine_stats(const struct tfs_engine *e, struct tfs_stats *out)
{
	struct tfs_cache_stats cs;
	uint64_t preads;

	memset(out, 0, sizeof(*out));
	tfs_cache_stats(e->cache, &cs);
	tfs_reader_stats(e->reader, &preads, &out->bytes_from_disk, &out->bytes_resident);
	out->reads = atomic_load(&e->reads);
	out->bytes_served = atomic_load(&e->bytes_served);
	out->cache_hits = cs.hits;
	out->cache_misses = cs.misses;
	out->bytes_prefetched = cs.bytes_prefetched;
	out->bytes_prefetched_unused = cs.bytes_prefetched_unused;
	out->evictions = cs.evictions;
	out->cache_bytes = cs.bytes;
	out->cache_peak_bytes = cs.peak_bytes;
	out->cache_budget = cs.budget;
	out->block_size = e->bs;
	out->readahead_bytes = e->ra_max;
	out->threads = e->opts.threads;
	out->warm_done_bytes = atomic_load(&e->warm_done);
	out->warm_total_bytes = atomic_load(&e->warm_total);
	out->pinning = tfs_cache_pinning(e->cache);
	out->strategy = atomic_load(&e->strategy);
	out->strategy_reason = atomic_load(&e->reason);
	out->profile = tfs_profile_status(e->profile);
	out->errors = atomic_load(&e->errors);
	out->bytes_hot = atomic_load(&e->bytes_hot);
	out->warm_skipped_bytes = atomic_load(&e->warm_skipped);
	out->huge_pages = tfs_cache_huge_pages(e->cache);
	out->bytes_from_disk += out->bytes_hot; /* spliced bytes come from the files too */
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
		", \"errors\": %" PRIu64 ", \"bytes_hot\": %" PRIu64 ", \"bytes_resident\": %" PRIu64
		", \"warm_skipped_bytes\": %" PRIu64 ", \"huge_pages\": \"%s\", \"profile\": \"%s\"}",
		st->reads, st->bytes_served, st->bytes_from_disk, st->cache_hits, st->cache_misses,
		st->bytes_prefetched, st->bytes_prefetched_unused, st->evictions, st->cache_bytes,
		st->cache_peak_bytes, st->cache_budget, st->block_size, st->readahead_bytes, st->threads,
		st->warm_done_bytes, st->warm_total_bytes, st->pinning ? st->pinning : "",
		tfs_strategy_name(st->strategy), st->strategy_reason ? st->strategy_reason : "",
		st->errors, st->bytes_hot, st->bytes_resident, st->warm_skipped_bytes,
		st->huge_pages ? st->huge_pages : "", st->profile ? st->profile : "");
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
