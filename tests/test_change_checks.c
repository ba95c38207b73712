/*
 * test_change_checks.c - the engine's change checks cost no system call per read while its change
 * watch runs (loader/io/srccache.h), and a change is still refused at once.
 *
 * How the stats are counted: this program defines fstat() and stat(), so every call the statically
 * linked engine makes resolves here (the executable comes first in the symbol search order); each
 * counts and forwards to the next definition (libc's, or a sanitizer's interceptor). A per-read
 * fstat+stat coming back makes test_watched_reads_do_not_stat fail.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine_fixture.h"

#define BS 4096u
#define READS 2000

static atomic_uint n_stats;

int fstat(int fd, struct stat *st)
{
	static int (*next)(int, struct stat *);

	if (!next)
		next = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
	atomic_fetch_add(&n_stats, 1);
	return next(fd, st);
}

int stat(const char *path, struct stat *st)
{
	static int (*next)(const char *, struct stat *);

	if (!next)
		next = (int (*)(const char *, struct stat *))dlsym(RTLD_NEXT, "stat");
	atomic_fetch_add(&n_stats, 1);
	return next(path, st);
}

/* `reads` reads of one cached range; returns the stats they made. */
static unsigned stats_of_reads(struct fx *fx, struct tfs_engine *e, int reads)
{
	struct tfs_error err;
	uint8_t buf[100];
	unsigned before = atomic_load(&n_stats);

	for (int i = 0; i < reads; i++) {
		assert_int_equal(tfs_engine_read(e, NULL, fx->file, fx->data_start, buf, sizeof(buf),
						 &err), sizeof(buf));
		assert_memory_equal(buf, fx->bytes + fx->data_start, sizeof(buf));
	}
	return atomic_load(&n_stats) - before;
}

/* Rewrites 100 bytes in place (same size) and moves the mtime. */
static void overwrite(struct fx *fx)
{
	uint8_t buf[100];
	struct timeval tv[2];
	int fd = open(fx->path, O_WRONLY);

	assert_true(fd >= 0);
	memset(buf, 0xAB, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t)fx->data_start), sizeof(buf));
	close(fd);
	gettimeofday(&tv[0], NULL);
	tv[1] = tv[0];
	tv[1].tv_sec += 5;
	assert_int_equal(utimes(fx->path, tv), 0);
}

static void test_watched_reads_do_not_stat(void **state)
{
	struct tfs_engine *e;
	struct tfs_error err;
	struct fx fx;
	uint8_t buf[100];
	unsigned n;
	ssize_t rc = 0;

	fx_open(&fx, 2, 8 * BS);
	e = fx_engine(&fx, TFS_STRATEGY_LAZY, BS, 64 * BS, 0, 2);
	assert_int_equal(tfs_engine_watch(e, NULL, NULL, &err), 0);
	stats_of_reads(&fx, e, 1); /* opens the source and fills the block */
	n = stats_of_reads(&fx, e, READS);
	fprintf(stderr, "watched: %u stats in %d reads\n", n, READS);
	/* The one-second backstop may run once or twice during the loop; a check per read is
	 * 2 * READS. */
	assert_true(n <= 4);
	/* The watch still refuses a change, without anyone stat'ing per read. */
	overwrite(&fx);
	for (int i = 0; i < 500; i++) {
		rc = tfs_engine_read(e, NULL, fx.file, fx.data_start, buf, sizeof(buf), &err);
		if (rc == -EIO)
			break;
		/* Until the watch thread took the event: the cached original bytes. */
		assert_int_equal(rc, sizeof(buf));
		assert_memory_equal(buf, fx.bytes + fx.data_start, sizeof(buf));
		usleep(10000);
	}
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(err.msg, "changed since it was opened"));
	tfs_engine_close(e);
	fx_free(&fx);
}

/* Without a watch every read checks its file (a library user relies on it). */
static void test_unwatched_reads_check(void **state)
{
	struct tfs_engine *e;
	struct tfs_error err;
	struct fx fx;
	uint8_t buf[100];
	unsigned n;

	fx_open(&fx, 2, 8 * BS);
	e = fx_engine(&fx, TFS_STRATEGY_LAZY, BS, 64 * BS, 0, 2);
	stats_of_reads(&fx, e, 1);
	n = stats_of_reads(&fx, e, 100);
	assert_true(n >= 100);
	overwrite(&fx);
	assert_int_equal(tfs_engine_read(e, NULL, fx.file, fx.data_start, buf, sizeof(buf), &err),
			 -EIO);
	tfs_engine_close(e);
	fx_free(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watched_reads_do_not_stat),
		cmocka_unit_test(test_unwatched_reads_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
