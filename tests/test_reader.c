/*
 * test_reader.c - the reader pool (loader/engine/reader.c) over a real file: exact bytes, one pread per
 * block under concurrency, demand before background, promotion, changed files, close with work
 * still queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/cache.h"
#include "engine_fixture.h"
#include "engine/reader.h"

#define BS 4096u

struct rig {
	struct fx fx;
	struct tfs_cache *cache;
	struct tfs_reader *reader;
	const struct tfs_file *files[8];
	/* completion log, for ordering tests; protected by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int gate_closed, first_seen;
	uint64_t order[64];
	int n_done;
};

static void on_done(void *ctx, struct tfs_block *b, long rc)
{
	struct rig *r = ctx;

	pthread_mutex_lock(&r->lock);
	if (r->n_done < 64)
		r->order[r->n_done] = b->index;
	r->n_done++;
	r->first_seen = 1;
	pthread_cond_broadcast(&r->cond);
	while (r->gate_closed) /* hold the worker here so the queue fills behind it */
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

static void rig_open(struct rig *r, unsigned threads, uint64_t tsize, unsigned cache_blocks)
{
	struct tfs_error err;
	size_t n;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	fx_open(&r->fx, 3, tsize);
	n = tfs_catalog_file_count(r->fx.cat);
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		r->files[i] = tfs_catalog_file(r->fx.cat, i);
	assert_int_equal(tfs_cache_open(BS, (uint64_t)cache_blocks * BS, &r->cache, &err), 0);
	assert_int_equal(tfs_reader_open(r->cache, r->files, n, BS, threads, on_done, r, &r->reader,
					 &err), 0);
}

static void rig_close(struct rig *r)
{
	tfs_reader_close(r->reader);
	tfs_cache_close(r->cache);
	fx_free(&r->fx);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

/* Demand-reads block i and checks every byte against the file. */
static void read_and_check(struct rig *r, uint64_t i)
{
	struct tfs_block *b;
	uint64_t off = i * BS;
	size_t want = r->fx.size - off < BS ? r->fx.size - off : BS;
	int rc = tfs_cache_lookup(r->cache, r->fx.file, i, TFS_ORIGIN_DEMAND, &b);

	assert_true(rc >= 0);
	if (rc == TFS_CACHE_FILL)
		tfs_reader_submit(r->reader, b, 1);
	assert_int_equal(tfs_cache_wait(r->cache, b), 0);
	assert_int_equal(b->lo, 0);
	assert_int_equal(b->hi, want);
	assert_memory_equal(b->data, r->fx.bytes + off, want);
	tfs_cache_release(r->cache, b);
}

static void test_exact_bytes(void **state)
{
	struct rig r;
	uint64_t nb, preads, disk, resident;

	rig_open(&r, 4, 10000, 64); /* ~30 KB: 8 blocks, the last one short */
	nb = (r.fx.size + BS - 1) / BS;
	for (uint64_t i = 0; i < nb; i++)
		read_and_check(&r, i);
	for (uint64_t i = 0; i < nb; i++) /* all hits now */
		read_and_check(&r, i);
	tfs_reader_stats(r.reader, &preads, &disk, &resident);
	assert_int_equal(preads, nb);
	assert_int_equal(disk, r.fx.size);
	rig_close(&r);
}

/* A chain: consecutive blocks read as one request (one pread counted), each with its bytes, the
 * last one short at the end of the file; direct reads of an evicted file, then buffered. */
static void test_chain_one_request(void **state)
{
	struct rig r;
	struct tfs_block *b[TFS_READER_CHAIN_MAX];
	uint64_t nb, preads, disk, resident;

	rig_open(&r, 2, 10000, 64); /* ~30 KB: 8 blocks, the last one short */
	tfs_reader_enable_direct(r.reader);
	nb = (r.fx.size + BS - 1) / BS;
	assert_true(nb <= TFS_READER_CHAIN_MAX);
	for (uint64_t i = 0; i < nb; i++)
		assert_int_equal(tfs_cache_lookup(r.cache, r.fx.file, i, TFS_ORIGIN_DEMAND, &b[i]),
				 TFS_CACHE_FILL);
	tfs_reader_submit_chain(r.reader, b, (unsigned)nb, 1);
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t want = r.fx.size - i * BS < BS ? r.fx.size - i * BS : BS;

		assert_int_equal(tfs_cache_wait(r.cache, b[i]), 0);
		assert_true(tfs_cache_holds(r.cache, b[i], 0, want));
		assert_memory_equal(b[i]->data, r.fx.bytes + i * BS, want);
		tfs_cache_release(r.cache, b[i]);
	}
	tfs_reader_stats(r.reader, &preads, &disk, &resident);
	assert_int_equal(preads, 1);
	assert_int_equal(disk, r.fx.size);
	rig_close(&r);
}

struct hammer {
	struct rig *r;
	pthread_barrier_t *start;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	pthread_barrier_wait(h->start);
	for (uint64_t i = 0; i < 8; i++)
		read_and_check(h->r, i);
	return NULL;
}

static void test_one_pread_per_block(void **state)
{
	struct rig r;
	pthread_barrier_t start;
	struct hammer h = { .r = &r, .start = &start };
	pthread_t t[8];
	uint64_t preads, disk, resident;

	rig_open(&r, 4, 16384, 64); /* 3 x 16 KiB: >= 8 full blocks */
	pthread_barrier_init(&start, NULL, 8);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, hammer_main, &h);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	tfs_reader_stats(r.reader, &preads, &disk, &resident);
	assert_int_equal(preads, 8);      /* 8 threads x 8 blocks, each block read once */
	assert_int_equal(disk, 8 * BS);
	pthread_barrier_destroy(&start);
	rig_close(&r);
}

/* With O_DIRECT on, a block the page cache holds whole is read buffered (counted resident), and
 * one it does not hold goes to the disk. Skipped where the kernel has no cachestat(2). */
static void test_resident_blocks_read_buffered(void **state)
{
	struct rig r;
	uint64_t preads, disk, resident;
	char page[BS];
	int fd;

	rig_open(&r, 2, 16384, 64); /* the fixture starts evicted */
	tfs_reader_enable_direct(r.reader);
	fd = open(r.fx.path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, page, BS, 0), BS); /* block 0 into the page cache */
	read_and_check(&r, 0);
	tfs_reader_stats(r.reader, &preads, &disk, &resident);
	if (!tfs_reader_resident(r.reader, r.fx.file, 0, BS)) {
		close(fd);
		rig_close(&r);
		skip();
	}
	assert_int_equal(resident, BS);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	assert_int_equal(tfs_reader_resident(r.reader, r.fx.file, BS, BS), 0);
	read_and_check(&r, 1); /* evicted: read from the disk, not counted resident */
	tfs_reader_stats(r.reader, &preads, &disk, &resident);
	assert_int_equal(resident, BS);
	assert_int_equal(disk, 2 * BS);
	close(fd);
	rig_close(&r);
}

/* Submits a job for block i at the given priority and drops the caller's reference. */
static void submit(struct rig *r, uint64_t i, int high, struct tfs_block **keep)
{
	struct tfs_block *b;

	assert_int_equal(tfs_cache_lookup(r->cache, r->fx.file, i,
					  high ? TFS_ORIGIN_DEMAND : TFS_ORIGIN_PREFETCH, &b),
			 TFS_CACHE_FILL);
	tfs_reader_submit(r->reader, b, high);
	if (keep)
		*keep = b;
	else
		tfs_cache_release(r->cache, b);
}

/* Makes the (single) worker busy inside on_done with block 0, so later jobs queue up. */
static void block_worker(struct rig *r)
{
	pthread_mutex_lock(&r->lock);
	r->gate_closed = 1;
	pthread_mutex_unlock(&r->lock);
	submit(r, 0, 0, NULL);
	pthread_mutex_lock(&r->lock);
	while (!r->first_seen)
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

static void release_worker_and_wait(struct rig *r, int n)
{
	pthread_mutex_lock(&r->lock);
	r->gate_closed = 0;
	pthread_cond_broadcast(&r->cond);
	while (r->n_done < n)
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

static void test_demand_jumps_queue(void **state)
{
	struct rig r;

	rig_open(&r, 1, 16384, 64);
	block_worker(&r);
	for (uint64_t i = 1; i <= 4; i++)
		submit(&r, i, 0, NULL);   /* background */
	submit(&r, 5, 1, NULL);           /* demand, queued last */
	release_worker_and_wait(&r, 6);
	assert_int_equal(r.order[0], 0);
	assert_int_equal(r.order[1], 5);  /* ahead of every background job */
	for (int k = 2; k < 6; k++)
		assert_int_equal(r.order[k], (uint64_t)k - 1); /* background keeps its order */
	rig_close(&r);
}

static void test_promote(void **state)
{
	struct rig r;
	struct tfs_block *c;

	rig_open(&r, 1, 16384, 64);
	block_worker(&r);
	submit(&r, 1, 0, NULL);
	submit(&r, 2, 0, NULL);
	submit(&r, 3, 0, &c);
	tfs_reader_promote(r.reader, c);  /* a caller started waiting on 3 */
	release_worker_and_wait(&r, 4);
	assert_int_equal(r.order[1], 3);
	assert_int_equal(tfs_cache_wait(r.cache, c), 0);
	assert_memory_equal(c->data, r.fx.bytes + 3 * BS, BS);
	tfs_cache_release(r.cache, c);
	rig_close(&r);
}

static void test_changed_file(void **state)
{
	struct rig r;
	struct tfs_error err;
	struct tfs_block *b;
	struct timeval tv[2];

	rig_open(&r, 2, 16384, 64);
	read_and_check(&r, 0);
	assert_int_equal(tfs_reader_check_file(r.reader, r.fx.file, &err), 0);
	/* Same size, new mtime: the bytes may differ, so nothing may be served any more. */
	gettimeofday(&tv[0], NULL);
	tv[1] = tv[0];
	tv[1].tv_sec += 10;
	assert_int_equal(utimes(r.fx.path, tv), 0);
	assert_int_equal(tfs_reader_check_file(r.reader, r.fx.file, &err), -EIO);
	assert_non_null(strstr(err.msg, r.fx.path));
	assert_non_null(strstr(err.msg, "changed"));
	assert_true(tfs_reader_file_changed(r.reader, r.fx.file));
	assert_false(tfs_cache_resident(r.cache, r.fx.file, 0)); /* its blocks were dropped */
	assert_int_equal(tfs_cache_lookup(r.cache, r.fx.file, 1, TFS_ORIGIN_DEMAND, &b),
			 TFS_CACHE_FILL);
	tfs_reader_submit(r.reader, b, 1);
	assert_int_equal(tfs_cache_wait(r.cache, b), -EIO);
	tfs_cache_release(r.cache, b);
	assert_false(tfs_cache_resident(r.cache, r.fx.file, 1));
	rig_close(&r);
}

static void test_close_with_queued_work(void **state)
{
	struct rig r;
	struct tfs_block *kept[4];

	rig_open(&r, 1, 16384, 64);
	block_worker(&r);
	for (int i = 0; i < 4; i++)
		submit(&r, (uint64_t)i + 1, 0, &kept[i]);
	pthread_mutex_lock(&r.lock);
	r.gate_closed = 0;
	pthread_cond_broadcast(&r.cond);
	pthread_mutex_unlock(&r.lock);
	tfs_reader_close(r.reader);
	r.reader = NULL;
	for (int i = 0; i < 4; i++) { /* read or cancelled, never left hanging */
		int rc = tfs_cache_wait(r.cache, kept[i]);
		assert_true(rc == 0 || rc == -ECANCELED);
		tfs_cache_release(r.cache, kept[i]);
	}
	assert_int_equal(tfs_cache_check(r.cache), 0);
	rig_close(&r);
}

/* Files are opened when first read, so a missing one fails its reads (-EIO: gone since the
 * catalog saw it, naming it), not the open:
 * a folder may hold more files than the process may keep open at once. */
static void test_open_missing_file(void **state)
{
	struct tfs_file f = { .path = "/nonexistent/tensorfs/x.safetensors", .size = 10 };
	const struct tfs_file *files[1] = { &f };
	struct tfs_cache *c;
	struct tfs_reader *rd = NULL;
	struct tfs_block *b;
	struct tfs_error err;

	assert_int_equal(tfs_cache_open(BS, 4 * BS, &c, &err), 0);
	assert_int_equal(tfs_reader_open(c, files, 1, BS, 2, NULL, NULL, &rd, &err), 0);
	assert_int_equal(tfs_cache_lookup(c, 0, 0, TFS_ORIGIN_DEMAND, &b), TFS_CACHE_FILL);
	tfs_reader_submit(rd, b, 1);
	assert_int_equal(tfs_cache_wait(c, b), -EIO);
	tfs_cache_release(c, b);
	assert_int_equal(tfs_reader_check_file(rd, 0, &err), -EIO);
	assert_non_null(strstr(err.msg, f.path));
	tfs_reader_close(rd);
	tfs_cache_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_chain_one_request),
		cmocka_unit_test(test_one_pread_per_block),
		cmocka_unit_test(test_resident_blocks_read_buffered),
		cmocka_unit_test(test_demand_jumps_queue),
		cmocka_unit_test(test_promote),
		cmocka_unit_test(test_changed_file),
		cmocka_unit_test(test_close_with_queued_work),
		cmocka_unit_test(test_open_missing_file),
	};
	return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}
