/*
 * warm.c - the eager strategy: at engine open, read the checkpoint into the cache in the background.
 *
 * Data flow: one warm-up thread walks the shard files in catalog order (shards first, in index
 * order; blocks in file order) and submits cache blocks to the reader pool at background priority.
 * Demand reads jump ahead of it in the reader's queue, and only a few warm blocks are in flight at
 * a time, so a reader never waits behind the whole checkpoint.
 *
 * The plan is the learned order first (engine/profile.h: the blocks the last engine's readers asked
 * for, in their order; all of them, following the readers as readahead once the budget is full;
 * under auto only once the first reads show the reader follows it, see the gate), then the rest in
 * file order as far as the budget holds (each block charged what the cache charges it: its pages,
 * so a tiny file's block costs a page, not a block). Ranges the page cache
 * already holds are skipped (counted done). Warm blocks never evict anything (TFS_ORIGIN_WARM), so
 * if demand reads filled part of the budget meanwhile the warm-up stops early and says so.
 * Progress goes to engine->opts.progress_fd as one line rewritten with \r, ended by a newline.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "error.h"
#include "fmt.h"

/* Writes the progress line when its percentage changed (or at the end, with a newline). */
static void progress(struct tfs_engine *e, int *last_pct, const char *end_note)
{
	uint64_t done = atomic_load(&e->warm_done), total = atomic_load(&e->warm_total);
	int pct = total ? (int)(done * 100 / total) : 100;
	char d[32], t[32];

	if (e->opts.progress_fd < 0 || (!end_note && pct == *last_pct))
		return;
	*last_pct = pct;
	dprintf(e->opts.progress_fd, "\rtensorfs: warm-up %s of %s (%d%%)%s",
		tfs_fmt_bytes(done, d, sizeof(d)), tfs_fmt_bytes(total, t, sizeof(t)), pct,
		end_note ? end_note : "");
}

void tfs_warm_block_done(void *engine, struct tfs_block *b, long rc)
{
	struct tfs_engine *e = engine;

	if (b->origin != TFS_ORIGIN_WARM)
		return;
	pthread_mutex_lock(&e->warm_lock);
	e->warm_inflight--;
	if (rc > 0)
		atomic_fetch_add(&e->warm_done, (uint64_t)rc);
	pthread_cond_signal(&e->warm_cond);
	pthread_mutex_unlock(&e->warm_lock);
}

/* Waits on warm_cond for at most `ms` (< 1000) milliseconds, so progress keeps moving; requires
 * warm_lock. */
static void wait_ms(struct tfs_engine *e, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += ms * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&e->warm_cond, &e->warm_lock, &ts);
}

static uint64_t block_len(const struct tfs_engine *e, uint32_t fi, uint64_t i)
{
	uint64_t size = e->files[fi]->size;

	return size - i * e->bs < e->bs ? size - i * e->bs : e->bs;
}

/* Takes block (fi, i)'s charge from the budget *left: 1 when it fits, 0 when the budget is spent
 * (then *left becomes 0). */
static int take_budget(const struct tfs_engine *e, uint32_t fi, uint64_t i, uint64_t *left)
{
	uint64_t cost = tfs_cache_charge(e->cache, block_len(e, fi, i));

	if (cost > *left) {
		*left = 0;
		return 0;
	}
	*left -= cost;
	return 1;
}

/*
 * Warms block i of file fi; returns 0 to go on, 1 to stop (with *note set). `follow` (the learned
 * order): when the budget is full, the block goes in as readahead instead (which may evict blocks
 * readers already used), waiting for readers to make room; so a learned order longer than the
 * budget stays ahead of its reader all the way - but only FOLLOW_AHEAD blocks ahead per reader
 * thread: that keeps the disk busy, while more would take the cache from blocks readers have read
 * half of and come back to (throttled, 1 GiB under a 256 MiB cache: half the budget ahead read
 * 1.80 GB from disk, more than streaming's 1.54 GB).
 */
#define FOLLOW_AHEAD 2

static int warm_one(struct tfs_engine *e, size_t fi, uint64_t i, int *pct, const char **note,
		    int follow)
{
	uint64_t len = block_len(e, (uint32_t)fi, i);
	unsigned limit = e->opts.threads > 2 ? e->opts.threads : 2;
	enum tfs_block_origin origin = TFS_ORIGIN_WARM;
	struct tfs_block *b;
	int rc, stop, waited_ms = 0;

	pthread_mutex_lock(&e->warm_lock);
	while (e->warm_inflight >= limit && !e->warm_stop) {
		wait_ms(e, 100);
		pthread_mutex_unlock(&e->warm_lock);
		progress(e, pct, NULL);
		pthread_mutex_lock(&e->warm_lock);
	}
	stop = e->warm_stop;
	pthread_mutex_unlock(&e->warm_lock);
	if (stop)
		return 1;
	/* What the page cache holds is already a copy away (a read of it is buffered, or
	 * spliced): warming it would only spend budget. */
	if (tfs_reader_resident(e->reader, (uint32_t)fi, i * e->bs, len)) {
		atomic_fetch_add(&e->warm_done, len);
		atomic_fetch_add(&e->warm_skipped, len);
		progress(e, pct, NULL);
		return 0;
	}
	for (;;) {
		/* Following past the budget: no further ahead than FOLLOW_AHEAD blocks per thread. */
		int ahead = origin == TFS_ORIGIN_PREFETCH && tfs_cache_readahead_unused(e->cache) >=
							     (uint64_t)FOLLOW_AHEAD * limit * e->bs;

		if (!ahead) {
			rc = tfs_cache_lookup(e->cache, (uint32_t)fi, i, origin, &b);
			if (rc != -ENOSPC || !follow)
				break;
			if (origin == TFS_ORIGIN_WARM) {
				origin = TFS_ORIGIN_PREFETCH;
				continue;
			}
		}
		/* Ahead of the readers, or no room until they read: wait for them. */
		waited_ms += ahead ? 2 : 100;
		if (waited_ms > 5000) { /* 5 s: nobody reads what we bring */
			*note = " (stopped: readers left the learned order)\n";
			return 1;
		}
		pthread_mutex_lock(&e->warm_lock);
		wait_ms(e, ahead ? 2 : 100);
		stop = e->warm_stop;
		pthread_mutex_unlock(&e->warm_lock);
		if (stop)
			return 1;
	}
	if (rc == -EEXIST) { /* a reader got there first */
		atomic_fetch_add(&e->warm_done, len);
	} else if (rc == -ENOSPC) {
		*note = " (stopped: cache full)\n";
		return 1;
	} else if (rc < 0) {
		*note = " (stopped: out of memory)\n";
		return 1;
	} else {
		if (origin == TFS_ORIGIN_WARM) { /* tfs_warm_block_done counts it when read */
			pthread_mutex_lock(&e->warm_lock);
			e->warm_inflight++;
			pthread_mutex_unlock(&e->warm_lock);
		} else { /* readahead: bounded by the cache's rules, counted when queued */
			atomic_fetch_add(&e->warm_done, len);
		}
		tfs_reader_submit(e->reader, b, 0);
		tfs_cache_release(e->cache, b);
	}
	progress(e, pct, NULL);
	return 0;
}

static void *warm_main(void *arg)
{
	struct tfs_engine *e = arg;
	uint64_t left = e->opts.cache_bytes; /* budget bytes, as the cache charges them */
	const struct tfs_profile_run *runs;
	size_t n_runs = tfs_profile_order(e->profile, &runs);
	const char *note = "\n";
	int pct = -1, stop = 0;

	/* auto: wait until the first reader shows whether it follows the learned order. */
	pthread_mutex_lock(&e->warm_lock);
	while (atomic_load(&e->gate) == TFS_GATE_WAIT && !e->warm_stop)
		wait_ms(e, 100);
	stop = e->warm_stop || atomic_load(&e->gate) == TFS_GATE_SHUT;
	pthread_mutex_unlock(&e->warm_lock);
	if (atomic_load(&e->gate) == TFS_GATE_SHUT)
		note = " (not needed: readers do not follow the learned order)\n";
	/* The learned order first, all of it: the blocks the last readers asked for, as they
	 * asked, following the readers once the budget is full. */
	for (size_t r = 0; r < n_runs && !stop; r++)
		for (uint64_t k = 0; k < runs[r].count && !stop; k++) {
			take_budget(e, runs[r].file, runs[r].first + k, &left);
			stop = warm_one(e, runs[r].file, runs[r].first + k, &pct, &note, 1);
		}
	/* Then the rest in file order. */
	for (size_t fi = 0; fi < e->n_files && left && !stop; fi++) {
		const struct tfs_file *f = e->files[fi];
		uint64_t nb = (f->size + e->bs - 1) / e->bs;
		if (!f->is_shard)
			continue;
		for (uint64_t i = 0; i < nb && left && !stop; i++) {
			if (tfs_profile_planned(e->profile, (uint32_t)fi, i))
				continue;
			if (!take_budget(e, (uint32_t)fi, i, &left))
				break; /* the budget is used up: tfs_warm_start counted up to here */
			stop = warm_one(e, fi, i, &pct, &note, 0);
		}
	}
	pthread_mutex_lock(&e->warm_lock);
	while (e->warm_inflight && !e->warm_stop) {
		wait_ms(e, 100);
		pthread_mutex_unlock(&e->warm_lock);
		progress(e, &pct, NULL);
		pthread_mutex_lock(&e->warm_lock);
	}
	/* A stop that comes after the last block was read stopped nothing: the line says done. */
	if (e->warm_stop && (stop || e->warm_inflight))
		note = e->warm_why ? e->warm_why : " (stopped: engine closed)\n";
	pthread_mutex_unlock(&e->warm_lock);
	progress(e, &pct, note);
	return NULL;
}

int tfs_warm_start(struct tfs_engine *e, struct tfs_error *err)
{
	uint64_t left = e->opts.cache_bytes, total = 0;
	const struct tfs_profile_run *runs;
	size_t n_runs = tfs_profile_order(e->profile, &runs);
	int rc;

	/* The same plan warm_main walks: the learned order (all of it), then the rest of the
	 * shards as far as the budget goes. */
	for (size_t r = 0; r < n_runs; r++)
		for (uint64_t k = 0; k < runs[r].count; k++) {
			take_budget(e, runs[r].file, runs[r].first + k, &left);
			total += block_len(e, runs[r].file, runs[r].first + k);
		}
	for (size_t fi = 0; fi < e->n_files && left; fi++) {
		const struct tfs_file *f = e->files[fi];
		uint64_t nb = (f->size + e->bs - 1) / e->bs;
		if (!f->is_shard)
			continue;
		for (uint64_t i = 0; i < nb && left; i++)
			if (!tfs_profile_planned(e->profile, (uint32_t)fi, i) &&
			    take_budget(e, (uint32_t)fi, i, &left))
				total += block_len(e, (uint32_t)fi, i);
	}
	atomic_store(&e->warm_total, total);
	if (!total)
		return 0;
	rc = -pthread_create(&e->warm_thread, NULL, warm_main, e);
	if (rc < 0)
		return tfs_error_set(err, rc, "engine: cannot start the warm-up thread: %s",
				     strerror(-rc));
	e->warm_started = 1;
	return 0;
}

/* The gate opens when the first GATE_READS distinct blocks readers start at are all among the
 * first GATE_HEAD blocks of the learned order (a reader repeating itself, alone or with a few
 * threads taking the next tensor), and shuts at the first one that is not (another reader). */
#define GATE_HEAD 24
#define GATE_READS 3

void tfs_warm_gate_observe(struct tfs_engine *e, uint32_t file, uint64_t first)
{
	uint64_t id = ((uint64_t)file << 40) ^ first, prev;
	int wait = TFS_GATE_WAIT, go, decided;

	/* Only shard bytes are in an order: config.json and friends say nothing about it. */
	if (!e->files[file]->is_shard || atomic_load(&e->gate) != TFS_GATE_WAIT)
		return;
	prev = atomic_exchange(&e->gate_last, id + 1);
	if (prev == id + 1)
		return; /* the next piece of the same block */
	go = tfs_profile_head(e->profile, file, first, GATE_HEAD);
	if (go && atomic_fetch_add(&e->gate_hits, 1) + 1 < GATE_READS)
		return;
	decided = atomic_compare_exchange_strong(&e->gate, &wait, go ? TFS_GATE_GO : TFS_GATE_SHUT);
	if (!decided)
		return;
	if (!go) {
		snprintf(e->switch_reason, sizeof(e->switch_reason),
			 "auto: a learned order exists but a first read (%s, block %llu) is not near "
			 "where it begins: another reader; no warm-up, streaming",
			 e->files[file]->rel, (unsigned long long)first);
		atomic_store(&e->strategy, TFS_STRATEGY_STREAMING);
		atomic_store(&e->reason, e->switch_reason);
	}
	pthread_mutex_lock(&e->warm_lock);
	pthread_cond_broadcast(&e->warm_cond);
	pthread_mutex_unlock(&e->warm_lock);
}

void tfs_warm_abandon(struct tfs_engine *e, const char *why)
{
	pthread_mutex_lock(&e->warm_lock);
	if (!e->warm_stop) {
		e->warm_stop = 1;
		e->warm_why = why;
		pthread_cond_broadcast(&e->warm_cond);
	}
	pthread_mutex_unlock(&e->warm_lock);
}

void tfs_warm_stop(struct tfs_engine *e)
{
	if (!e->warm_started)
		return;
	pthread_mutex_lock(&e->warm_lock);
	e->warm_stop = 1;
	pthread_cond_broadcast(&e->warm_cond);
	pthread_mutex_unlock(&e->warm_lock);
	pthread_join(e->warm_thread, NULL);
	e->warm_started = 0;
}
