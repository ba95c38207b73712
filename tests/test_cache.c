/*
 * test_cache.c - the block cache alone (loader/engine/cache.c), driven with a fake filler: LRU order, the
 * budget, pinning, one fill per block under concurrency, failed fills, prefetch rules, invalidation.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/cache.h"

#define BS 4096u

static struct tfs_cache *open_cache(unsigned blocks)
{
	struct tfs_cache *c = NULL;
	struct tfs_error err;

	assert_int_equal(tfs_cache_open(BS, (uint64_t)blocks * BS, &c, &err), 0);
	return c;
}

/* The fake read: every byte of block (file, index) is a function of both. */
static uint8_t fill_byte(uint32_t file, uint64_t index)
{
	return (uint8_t)(file * 31 + index * 7 + 1);
}

static void fake_fill(struct tfs_cache *c, struct tfs_block *b)
{
	assert_int_equal(tfs_cache_fill_begin(c, b), 0);
	memset(b->data, fill_byte(b->file, b->index), BS);
	tfs_cache_fill_done(c, b, BS);
}

/* Demand-loads (or touches) a block and releases it. */
static void touch(struct tfs_cache *c, uint32_t file, uint64_t index)
{
	struct tfs_block *b;
	int rc = tfs_cache_lookup(c, file, index, TFS_ORIGIN_DEMAND, &b);

	assert_true(rc >= 0);
	if (rc == TFS_CACHE_FILL)
		fake_fill(c, b);
	assert_int_equal(tfs_cache_wait(c, b), 0);
	assert_int_equal(b->data[BS - 1], fill_byte(file, index));
	tfs_cache_release(c, b);
	assert_int_equal(tfs_cache_check(c), 0);
}

static void test_lru_order(void **state)
{
	struct tfs_cache *c = open_cache(3);
	struct tfs_cache_stats st;

	touch(c, 0, 0);
	touch(c, 0, 1);
	touch(c, 0, 2);
	touch(c, 0, 0);      /* 0 is now the most recent; 1 the least */
	touch(c, 0, 3);      /* evicts 1 */
	assert_false(tfs_cache_resident(c, 0, 1));
	assert_true(tfs_cache_resident(c, 0, 0));
	assert_true(tfs_cache_resident(c, 0, 2));
	assert_true(tfs_cache_resident(c, 0, 3));
	touch(c, 0, 4);      /* evicts 2 */
	assert_false(tfs_cache_resident(c, 0, 2));
	tfs_cache_stats(c, &st);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 5);
	assert_int_equal(st.bytes, 3 * BS);
	assert_int_equal(st.peak_bytes, 3 * BS);
	tfs_cache_close(c);
}

/* Demand-loads a block and releases it after a read of [off, off+len) of it. */
static void read_part(struct tfs_cache *c, uint64_t index, uint64_t off, uint64_t len)
{
	struct tfs_block *b;
	int rc = tfs_cache_lookup(c, 0, index, TFS_ORIGIN_DEMAND, &b);

	assert_true(rc >= 0);
	if (rc == TFS_CACHE_FILL)
		fake_fill(c, b);
	assert_int_equal(tfs_cache_wait(c, b), 0);
	tfs_cache_release_read(c, b, off, len);
	assert_int_equal(tfs_cache_check(c), 0);
}

/*
 * A block demand reads have read all of (in any number of pieces) is evicted before blocks read
 * only in part, even more recent ones: a one-pass reader in shuffled order never needs it again,
 * while a half-read block holds a neighbouring tensor's bytes.
 */
static void test_consumed_blocks_go_first(void **state)
{
	struct tfs_cache *c = open_cache(3);

	read_part(c, 0, 0, BS / 2);          /* half read */
	read_part(c, 1, 0, BS / 2);          /* half read, then the rest in a second read: */
	read_part(c, 1, BS / 2, BS / 2);     /* consumed, though the most recent */
	read_part(c, 2, 100, 10);            /* a few bytes */
	read_part(c, 3, 0, BS);              /* needs room: evicts 1, not the LRU block 0 */
	assert_false(tfs_cache_resident(c, 0, 1));
	assert_true(tfs_cache_resident(c, 0, 0));
	assert_true(tfs_cache_resident(c, 0, 2));
	assert_true(tfs_cache_resident(c, 0, 3)); /* consumed too: the next victim */
	read_part(c, 4, 0, 1);
	assert_false(tfs_cache_resident(c, 0, 3));
	assert_true(tfs_cache_resident(c, 0, 0));
	touch(c, 0, 5);                      /* no consumed block left: plain LRU, evicts 0 */
	assert_false(tfs_cache_resident(c, 0, 0));
	assert_true(tfs_cache_resident(c, 0, 2));
	tfs_cache_close(c);
}

static void test_budget_and_pinning(void **state)
{
	struct tfs_cache *c = open_cache(2);
	struct tfs_block *a, *b, *x, *y;
	struct tfs_cache_stats st;

	assert_int_equal(tfs_cache_lookup(c, 0, 0, TFS_ORIGIN_DEMAND, &a), TFS_CACHE_FILL);
	fake_fill(c, a);
	assert_int_equal(tfs_cache_lookup(c, 0, 1, TFS_ORIGIN_DEMAND, &b), TFS_CACHE_FILL);
	fake_fill(c, b);
	/* Both pinned: prefetch and warm-up are refused, demand goes over the budget. */
	assert_int_equal(tfs_cache_lookup(c, 0, 2, TFS_ORIGIN_PREFETCH, &x), -ENOSPC);
	assert_int_equal(tfs_cache_lookup(c, 0, 2, TFS_ORIGIN_WARM, &x), -ENOSPC);
	assert_int_equal(tfs_cache_lookup(c, 0, 2, TFS_ORIGIN_DEMAND, &x), TFS_CACHE_FILL);
	fake_fill(c, x);
	assert_int_equal(tfs_cache_check(c), 0);
	tfs_cache_stats(c, &st);
	assert_int_equal(st.bytes, 3 * BS);
	assert_int_equal(st.pinned_blocks, 3);
	/* Pinned blocks were not evicted and still hold their bytes. */
	assert_int_equal(a->data[0], fill_byte(0, 0));
	assert_int_equal(b->data[0], fill_byte(0, 1));
	tfs_cache_release(c, x); /* back under budget at once: x is the LRU victim */
	tfs_cache_stats(c, &st);
	assert_int_equal(st.bytes, 2 * BS);
	assert_int_equal(tfs_cache_check(c), 0);
	/* A pinned block survives any number of demand misses. */
	for (uint64_t i = 10; i < 20; i++)
		touch(c, 0, i);
	assert_int_equal(a->data[BS - 1], fill_byte(0, 0));
	tfs_cache_release(c, a);
	tfs_cache_release(c, b);
	assert_int_equal(tfs_cache_lookup(c, 0, 0, TFS_ORIGIN_DEMAND, &y), TFS_CACHE_HIT);
	tfs_cache_release(c, y);
	tfs_cache_stats(c, &st);
	assert_true(st.bytes <= 2 * BS);
	assert_int_equal(tfs_cache_check(c), 0);
	tfs_cache_close(c);
}

struct hammer {
	struct tfs_cache *c;
	pthread_barrier_t *start;
	int fills;                  /* protected by hammer_lock */
	pthread_mutex_t lock;
	int bad;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	pthread_barrier_wait(h->start);
	for (uint64_t round = 0; round < 20; round++) {
		struct tfs_block *b;
		int rc = tfs_cache_lookup(h->c, 0, round, TFS_ORIGIN_DEMAND, &b);
		if (rc == TFS_CACHE_FILL) {
			pthread_mutex_lock(&h->lock);
			h->fills++;
			pthread_mutex_unlock(&h->lock);
			usleep(2000); /* a slow disk: everybody else piles up on the same block */
			fake_fill(h->c, b);
		} else if (rc < 0) {
			h->bad = 1;
			continue;
		}
		if (tfs_cache_wait(h->c, b) != 0 || b->data[BS / 2] != fill_byte(0, round))
			h->bad = 1;
		tfs_cache_release(h->c, b);
	}
	return NULL;
}

static void test_one_fill_per_block(void **state)
{
	struct tfs_cache *c = open_cache(64);
	pthread_barrier_t start;
	struct hammer h = { .c = c, .start = &start };
	pthread_t t[8];
	struct tfs_cache_stats st;

	pthread_mutex_init(&h.lock, NULL);
	pthread_barrier_init(&start, NULL, 8);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, hammer_main, &h);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	assert_false(h.bad);
	assert_int_equal(h.fills, 20); /* one per block, never two */
	tfs_cache_stats(c, &st);
	assert_int_equal(st.hits + st.misses, 8 * 20);
	assert_int_equal(tfs_cache_check(c), 0);
	pthread_barrier_destroy(&start);
	pthread_mutex_destroy(&h.lock);
	tfs_cache_close(c);
}

static void test_failed_fill_not_cached(void **state)
{
	struct tfs_cache *c = open_cache(4);
	struct tfs_block *filler, *waiter, *again;

	assert_int_equal(tfs_cache_lookup(c, 1, 5, TFS_ORIGIN_DEMAND, &filler), TFS_CACHE_FILL);
	assert_int_equal(tfs_cache_lookup(c, 1, 5, TFS_ORIGIN_DEMAND, &waiter), TFS_CACHE_LOADING);
	tfs_cache_fill_done(c, filler, -EIO);
	assert_int_equal(tfs_cache_wait(c, waiter), -EIO);
	assert_int_equal(tfs_cache_wait(c, filler), -EIO);
	assert_false(tfs_cache_resident(c, 1, 5));
	/* The next lookup reads again rather than serving the failure. */
	assert_int_equal(tfs_cache_lookup(c, 1, 5, TFS_ORIGIN_DEMAND, &again), TFS_CACHE_FILL);
	fake_fill(c, again);
	tfs_cache_release(c, filler);
	tfs_cache_release(c, waiter);
	tfs_cache_release(c, again);
	assert_true(tfs_cache_resident(c, 1, 5));
	assert_int_equal(tfs_cache_check(c), 0);
	tfs_cache_close(c);
}

static void prefetch(struct tfs_cache *c, uint64_t index, int expect)
{
	struct tfs_block *b;
	int rc = tfs_cache_lookup(c, 0, index, TFS_ORIGIN_PREFETCH, &b);

	assert_int_equal(rc, expect);
	if (rc == TFS_CACHE_FILL) {
		fake_fill(c, b);
		tfs_cache_release(c, b);
	}
	assert_int_equal(tfs_cache_check(c), 0);
}

static void test_prefetch_rules(void **state)
{
	struct tfs_cache *c = open_cache(4);
	struct tfs_cache_stats st;

	prefetch(c, 0, TFS_CACHE_FILL);
	prefetch(c, 0, -EEXIST);
	prefetch(c, 1, TFS_CACHE_FILL);
	prefetch(c, 2, -ENOSPC);        /* untouched readahead already holds half the budget */
	touch(c, 0, 0);                 /* used: no longer counts */
	prefetch(c, 2, TFS_CACHE_FILL);
	touch(c, 0, 3);                 /* full now */
	touch(c, 0, 2);                 /* LRU, most recent first: 2 3 0 1 (1 never read) */
	prefetch(c, 4, -ENOSPC);        /* would evict block 1, an untouched prefetch */
	touch(c, 0, 1);                 /* LRU: 1 2 3 0 */
	prefetch(c, 4, TFS_CACHE_FILL); /* evicts 0, which readers are done with */
	assert_false(tfs_cache_resident(c, 0, 0));
	tfs_cache_stats(c, &st);
	assert_int_equal(st.bytes_prefetched, 4 * BS);
	assert_int_equal(st.bytes_prefetched_unused, 0);
	touch(c, 0, 5);                 /* evicts 3 */
	touch(c, 0, 6);                 /* evicts 2 */
	touch(c, 0, 7);                 /* evicts 1 */
	touch(c, 0, 8);                 /* evicts 4, never read: counted unused */
	assert_false(tfs_cache_resident(c, 0, 4));
	tfs_cache_stats(c, &st);
	assert_int_equal(st.bytes_prefetched_unused, BS);
	tfs_cache_close(c);
}

static void test_warm_never_evicts(void **state)
{
	struct tfs_cache *c = open_cache(3);
	struct tfs_block *b;

	touch(c, 0, 0);
	for (uint64_t i = 1; i < 3; i++) {
		assert_int_equal(tfs_cache_lookup(c, 0, i, TFS_ORIGIN_WARM, &b), TFS_CACHE_FILL);
		fake_fill(c, b);
		tfs_cache_release(c, b);
	}
	assert_int_equal(tfs_cache_lookup(c, 0, 3, TFS_ORIGIN_WARM, &b), -ENOSPC);
	assert_true(tfs_cache_resident(c, 0, 0));
	tfs_cache_close(c);
}

static void test_invalidate_file(void **state)
{
	struct tfs_cache *c = open_cache(8);
	struct tfs_block *pinned, *b;
	struct tfs_cache_stats st;

	touch(c, 0, 0);
	touch(c, 0, 1);
	touch(c, 1, 0);
	assert_int_equal(tfs_cache_lookup(c, 0, 1, TFS_ORIGIN_DEMAND, &pinned), TFS_CACHE_HIT);
	tfs_cache_invalidate_file(c, 0);
	assert_false(tfs_cache_resident(c, 0, 0));
	assert_false(tfs_cache_resident(c, 0, 1));
	assert_true(tfs_cache_resident(c, 1, 0));
	assert_int_equal(pinned->data[7], fill_byte(0, 1)); /* still valid for its holder */
	assert_int_equal(tfs_cache_check(c), 0);
	/* A new lookup of the same block does not find the dead one. */
	assert_int_equal(tfs_cache_lookup(c, 0, 1, TFS_ORIGIN_DEMAND, &b), TFS_CACHE_FILL);
	fake_fill(c, b);
	tfs_cache_release(c, b);
	tfs_cache_release(c, pinned);
	tfs_cache_stats(c, &st);
	assert_int_equal(st.blocks, 2);
	assert_int_equal(st.bytes, 2 * BS);
	assert_int_equal(tfs_cache_check(c), 0);
	tfs_cache_close(c);
}

static void test_pinning_reported(void **state)
{
	struct tfs_cache *c = open_cache(2);
	const char *p = tfs_cache_pinning(c);

	assert_true(strcmp(p, "cuda") == 0 || strncmp(p, "mlock", 5) == 0 ||
		    strncmp(p, "none (", 6) == 0);
	tfs_cache_close(c);
}

/* THPeligible of the mapping holding addr in /proc/self/smaps: 1, 0, or -1 if not found. */
static int thp_eligible(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[256];
	int in = 0, r = -1;
	unsigned long lo, hi;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && sscanf(line, "THPeligible: %d", &r) == 1)
			break;
	}
	fclose(f);
	return r;
}

/* With 2 MiB blocks and THP enabled, every block buffer is huge-page aligned and eligible, so an
 * O_DIRECT read into it is one device IO; without THP the cache says why and still works. */
static void test_huge_page_blocks(void **state)
{
	struct tfs_cache *c;
	struct tfs_error err;
	struct tfs_block *b;

	assert_int_equal(tfs_cache_open(2u << 20, 4u << 20, &c, &err), 0);
	assert_int_equal(tfs_cache_lookup(c, 0, 0, TFS_ORIGIN_DEMAND, &b), TFS_CACHE_FILL);
	assert_int_equal(tfs_cache_fill_begin(c, b), 0);
	if (strcmp(tfs_cache_huge_pages(c), "madvise") == 0) {
		assert_int_equal((uintptr_t)b->data % (2u << 20), 0);
		assert_int_equal(thp_eligible(b->data), 1);
	} else {
		assert_int_equal(strncmp(tfs_cache_huge_pages(c), "off (", 5), 0);
	}
	memset(b->data, 1, 2u << 20);
	tfs_cache_fill_done(c, b, 2u << 20);
	tfs_cache_release(c, b);
	tfs_cache_close(c);
}

/* Windows (cache.h): a block filled for part of its range holds that part; a lookup that needs
 * more grows it by the adjacent piece while the window stays readable; a failed growth leaves
 * the block to its holders and the next lookup reads afresh. */
static void test_windows_grow(void **state)
{
	enum { BIG = 64 * 1024 };
	struct tfs_cache *c = NULL;
	struct tfs_block *b, *w, *again;
	struct tfs_error err;

	assert_int_equal(tfs_cache_open(BIG, 4 * BIG, &c, &err), 0);
	/* Need [9000, 12000), fill from 8192 to 16384: the fill starts on a page. */
	assert_int_equal(tfs_cache_lookup_range(c, 0, 0, TFS_ORIGIN_DEMAND, 9000, 12000, 9000, 16384,
						&b), TFS_CACHE_FILL);
	assert_int_equal(b->flo, 8192);
	assert_int_equal(b->fhi, 16384);
	assert_int_equal(tfs_cache_fill_begin(c, b), 0);
	memset(b->data + b->flo, 7, b->fhi - b->flo);
	tfs_cache_fill_done(c, b, b->fhi - b->flo);
	assert_true(tfs_cache_holds(c, b, 8192, 16384));
	assert_false(tfs_cache_holds(c, b, 16384, 16385));
	tfs_cache_release(c, b);
	/* Inside the window: a hit. */
	assert_int_equal(tfs_cache_lookup_range(c, 0, 0, TFS_ORIGIN_DEMAND, 8192, 9000, 0, BIG, &b),
			 TFS_CACHE_HIT);
	/* Past it: the block grows by [16384, 32768) while b still reads the window. */
	assert_int_equal(tfs_cache_lookup_range(c, 0, 0, TFS_ORIGIN_DEMAND, 20000, 21000, 16384,
						32768, &w), TFS_CACHE_FILL);
	assert_ptr_equal(w, b);
	assert_int_equal(w->flo, 16384);
	assert_int_equal(w->fhi, 32768);
	assert_int_equal(b->data[9000], 7);
	/* A third reader of the new part waits for the growth. */
	assert_int_equal(tfs_cache_lookup_range(c, 0, 0, TFS_ORIGIN_DEMAND, 16384, 16400, 16384,
						32768, &again), TFS_CACHE_LOADING);
	memset(w->data + w->flo, 8, w->fhi - w->flo);
	tfs_cache_fill_done(c, w, w->fhi - w->flo);
	assert_int_equal(tfs_cache_wait(c, again), 0);
	assert_true(tfs_cache_holds(c, again, 8192, 32768));
	assert_int_equal(again->data[20000], 8);
	tfs_cache_release(c, again);
	tfs_cache_release(c, w);
	/* Before it: grows leftwards, from the page holding the need up to the window. */
	assert_int_equal(tfs_cache_lookup_range(c, 0, 0, TFS_ORIGIN_DEMAND, 100, 200, 100, BIG, &w),
			 TFS_CACHE_FILL);
	assert_int_equal(w->flo, 0);
	assert_int_equal(w->fhi, 8192);
	tfs_cache_fill_done(c, w, 8192);
	assert_true(tfs_cache_holds(c, w, 0, 32768));
	tfs_cache_release(c, w);
	assert_int_equal(tfs_cache_check(c), 0);
	/* A growth that fails: waiters get the error, the holder keeps its window, and the block is
	 * found no more. */
	assert_int_equal(tfs_cache_lookup_range(c, 0, 0, TFS_ORIGIN_DEMAND, 40000, 40001, 32768, BIG,
						&w), TFS_CACHE_FILL);
	assert_int_equal(tfs_cache_lookup_range(c, 0, 0, TFS_ORIGIN_DEMAND, 40000, 40001, 32768, BIG,
						&again), TFS_CACHE_LOADING);
	tfs_cache_fill_done(c, w, -EIO);
	assert_int_equal(tfs_cache_wait(c, again), -EIO);
	assert_int_equal(b->data[9000], 7);
	tfs_cache_release(c, again);
	tfs_cache_release(c, w);
	tfs_cache_release(c, b);
	assert_int_equal(tfs_cache_lookup_range(c, 0, 0, TFS_ORIGIN_DEMAND, 0, 10, 0, BIG, &b),
			 TFS_CACHE_FILL);
	assert_int_equal(b->flo, 0);
	assert_int_equal(b->fhi, BIG);
	tfs_cache_fill_done(c, b, BIG);
	tfs_cache_release(c, b);
	assert_int_equal(tfs_cache_check(c), 0);
	tfs_cache_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru_order),
		cmocka_unit_test(test_consumed_blocks_go_first),
		cmocka_unit_test(test_budget_and_pinning),
		cmocka_unit_test(test_one_fill_per_block),
		cmocka_unit_test(test_failed_fill_not_cached),
		cmocka_unit_test(test_prefetch_rules),
		cmocka_unit_test(test_warm_never_evicts),
		cmocka_unit_test(test_invalidate_file),
		cmocka_unit_test(test_pinning_reported),
		cmocka_unit_test(test_huge_page_blocks),
		cmocka_unit_test(test_windows_grow),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
