/*
 * test_source.c - the local-file byte source (loader/io/source_file.c): every way a checkpoint file
 * can change under an open source is caught by check(), with a message naming the file and the
 * reason; an untouched file passes; reads loop over short transfers and the O_DIRECT path is
 * byte-exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "io/source.h"
#include "io/source_file.h"
#include "tensorfs.h"

struct fx {
	char *dir;
	char path[4096];
	struct tfs_source_info f;   /* what stat said before the source opened */
	struct tfs_source *src;
	int fd;                     /* a writer's descriptor */
};

/* A 4 KiB file, its catalog view (stat now), a writer's descriptor and a source on it. */
static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	char buf[4096];
	struct stat st;
	struct tfs_error err;

	memset(buf, 'a', sizeof(buf));
	x->dir = ck_tmpdir();
	snprintf(x->path, sizeof(x->path), "%s/model.safetensors", x->dir);
	x->fd = open(x->path, O_RDWR | O_CREAT, 0644);
	assert_true(x->fd >= 0);
	assert_int_equal(write(x->fd, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(fstat(x->fd, &st), 0);
	x->f.size = (uint64_t)st.st_size;
	x->f.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	x->f.dev = st.st_dev;
	x->f.ino = st.st_ino;
	x->f.mode = st.st_mode & 07777;
	assert_int_equal(tfs_source_open(x->path, &x->f, &x->src, &err), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	close(x->fd);
	tfs_source_close(x->src);
	ck_rmrf(x->dir);
	free(x);
	return 0;
}

static void expect_changed(struct fx *x, const char *why)
{
	struct tfs_error err;

	assert_int_equal(tfs_source_check(x->src, &err), -EIO);
	assert_non_null(strstr(err.msg, x->path));
	if (!strstr(err.msg, why))
		fail_msg("'%s' does not say '%s'", err.msg, why);
}

static void test_unchanged(void **state)
{
	struct fx *x = *state;
	struct tfs_error err;
	char c;

	/* reading changes nothing (atime only) */
	assert_int_equal(tfs_source_read(x->src, &c, 1, 0, 0, &err), 1);
	assert_int_equal(c, 'a');
	assert_int_equal(tfs_source_check(x->src, &err), 0);
	assert_int_equal(tfs_source_check(x->src, NULL), 0);
	assert_string_equal(x->src->ops->kind, "file");
	assert_int_equal(x->src->info.size, 4096);
}

static void test_truncated(void **state)
{
	struct fx *x = *state;

	assert_int_equal(ftruncate(x->fd, 100), 0);
	expect_changed(x, "truncated or extended (size 4096 -> 100)");
}

static void test_written_in_place(void **state)
{
	struct fx *x = *state;
	struct timespec later[2] = { { 0, UTIME_OMIT }, { 2000000000, 0 } };

	assert_int_equal(pwrite(x->fd, "b", 1, 10), 1);
	assert_int_equal(futimens(x->fd, later), 0);  /* a distinct mtime whatever the clock */
	expect_changed(x, "modified (mtime moved)");
}

static void test_written_with_mtime_restored(void **state)
{
	struct fx *x = *state;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { x->f.mtime_ns / 1000000000, x->f.mtime_ns % 1000000000 } };

	usleep(20000); /* the ctime must move past the timestamp granularity */
	assert_int_equal(pwrite(x->fd, "b", 1, 10), 1);
	assert_int_equal(futimens(x->fd, ts), 0);    /* rsync --inplace -t, touch -r */
	expect_changed(x, "ctime moved");
}

static void test_renamed_over(void **state)
{
	struct fx *x = *state;
	char other[4200];

	snprintf(other, sizeof(other), "%s/new", x->dir);
	assert_int_equal(ck_write_text(other, "x"), 0);
	assert_int_equal(rename(other, x->path), 0);
	expect_changed(x, "the path now names another file");
}

static void test_deleted(void **state)
{
	struct fx *x = *state;

	assert_int_equal(unlink(x->path), 0);
	expect_changed(x, "deleted or renamed away");
}

static void test_replaced_before_open(void **state)
{
	struct fx *x = *state;
	struct tfs_source *s = NULL;
	struct tfs_error err;
	struct tfs_source_info f = x->f;

	f.ino++;   /* the catalog stat()ed another inode than the one the engine opened */
	assert_int_equal(tfs_source_open(x->path, &f, &s, &err), -EIO);
	assert_null(s);
	assert_non_null(strstr(err.msg, x->path));
	assert_non_null(strstr(err.msg, "replaced by another file"));
	f = x->f;
	f.size++;
	assert_int_equal(tfs_source_open(x->path, &f, &s, &err), -EIO);
	assert_non_null(strstr(err.msg, "size 4097 -> 4096"));
	f = x->f;
	f.mtime_ns++;
	assert_int_equal(tfs_source_open(x->path, &f, &s, &err), -EIO);
	assert_non_null(strstr(err.msg, "mtime moved"));
}

/* A file of n pattern bytes (ck_byte) at dir/name; returns its path. */
static const char *pattern_file(const char *dir, const char *name, size_t n)
{
	const char *p = ck_path(dir, name);
	unsigned char *buf = malloc(n ? n : 1);
	FILE *f = fopen(p, "wb");

	assert_non_null(buf);
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		buf[i] = ck_byte(i);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
	free(buf);
	return p;
}

static void expect_pattern(const unsigned char *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != ck_byte(off + i))
			fail_msg("byte %zu of a read at %llu: %u, want %u", i, (unsigned long long)off,
				 buf[i], ck_byte(off + i));
}

/* Short transfers (each pread capped at 7 bytes) are looped over: whole ranges come back, and a
 * range past the end comes back short by exactly the missing bytes, never silently. */
static void test_short_reads_looped(void **state)
{
	char *dir = ck_tmpdir();
	const size_t size = 3 * 4096 + 100;
	const char *p = pattern_file(dir, "f.bin", size);
	unsigned char buf[3 * 4096 + 100];
	struct tfs_source *s;
	struct tfs_error err;

	assert_int_equal(tfs_source_open(p, NULL, &s, &err), 0);
	tfs_source_file_limit_io(s, 7);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(tfs_source_read(s, buf, size, 0, 0, &err), (ssize_t)size);
	expect_pattern(buf, size, 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(tfs_source_read(s, buf, 1000, 5000, 0, &err), 1000);
	expect_pattern(buf, 1000, 5000);
	/* 100 bytes asked at 50 before the end: 50 come back. */
	assert_int_equal(tfs_source_read(s, buf, 100, size - 50, 0, &err), 50);
	expect_pattern(buf, 50, size - 50);
	assert_int_equal(tfs_source_read(s, buf, 10, size + 10, 0, &err), 0);
	tfs_source_close(s);
	ck_rmrf(dir);
}

/* TFS_SOURCE_DIRECT (O_DIRECT where the filesystem allows it, buffered where it refuses) returns
 * the same bytes as a buffered read, whole pages and the unaligned tail alike. */
static void test_direct_exact(void **state)
{
	char *dir = ck_tmpdir();
	const size_t size = 5 * 4096 + 123;
	const char *p = pattern_file(dir, "d.bin", size);
	unsigned char *buf = NULL;
	struct tfs_source *s;
	struct tfs_error err;

	assert_int_equal(posix_memalign((void **)&buf, 4096, 6 * 4096), 0);
	assert_int_equal(tfs_source_open(p, NULL, &s, &err), 0);
	memset(buf, 0, 6 * 4096);
	assert_int_equal(tfs_source_read(s, buf, 2 * 4096, 4096, TFS_SOURCE_DIRECT, &err), 2 * 4096);
	expect_pattern(buf, 2 * 4096, 4096);
	memset(buf, 0xee, 6 * 4096);
	/* The tail block: fewer bytes than the rounded-up page count, as the reader asks. */
	assert_int_equal(tfs_source_read(s, buf, 4096 + 123, 4 * 4096, TFS_SOURCE_DIRECT, &err),
			 4096 + 123);
	expect_pattern(buf, 4096 + 123, 4 * 4096);
	/* The whole file in one read, then a check: reads through O_DIRECT change nothing. */
	assert_int_equal(tfs_source_read(s, buf, size, 0, TFS_SOURCE_DIRECT, &err), (ssize_t)size);
	expect_pattern(buf, size, 0);
	assert_int_equal(tfs_source_check(s, &err), 0);
	tfs_source_close(s);
	free(buf);
	ck_rmrf(dir);
}

/* readv: one range into pieces in separate buffers (cache blocks), direct and buffered, the tail
 * short at the end of the file, and looped over short transfers like read. */
static void test_readv_pieces(void **state)
{
	char *dir = ck_tmpdir();
	const size_t size = 5 * 4096 + 123;
	const char *p = pattern_file(dir, "v.bin", size);
	unsigned char *a = NULL, *b = NULL, *c = NULL;
	struct tfs_source *s;
	struct tfs_error err;

	assert_int_equal(posix_memalign((void **)&a, 4096, 2 * 4096), 0);
	assert_int_equal(posix_memalign((void **)&b, 4096, 2 * 4096), 0);
	assert_int_equal(posix_memalign((void **)&c, 4096, 2 * 4096), 0);
	assert_int_equal(tfs_source_open(p, NULL, &s, &err), 0);
	for (int pass = 0; pass < 3; pass++) {
		unsigned flags = pass == 1 ? TFS_SOURCE_DIRECT : 0;
		/* From page 1 to the end: 2 pages, 1 page, then the tail (asked for 2 pages). */
		struct iovec v[3] = { { a, 2 * 4096 }, { b, 4096 }, { c, 2 * 4096 } };

		if (pass == 2)
			tfs_source_file_limit_io(s, 7);
		memset(a, 0, 2 * 4096);
		memset(b, 0, 2 * 4096);
		memset(c, 0, 2 * 4096);
		assert_int_equal(tfs_source_readv(s, v, 3, 4096, flags, &err),
				 (ssize_t)(size - 4096));
		expect_pattern(a, 2 * 4096, 4096);
		expect_pattern(b, 4096, 3 * 4096);
		expect_pattern(c, 4096 + 123, 4 * 4096);
	}
	tfs_source_close(s);
	free(a);
	free(b);
	free(c);
	ck_rmrf(dir);
}

/* A range the page cache holds may be offered for splicing: the descriptor reads the same bytes. */
static void test_splice_fd(void **state)
{
	char *dir = ck_tmpdir();
	const char *p = pattern_file(dir, "h.bin", 8192);
	unsigned char buf[8192];
	struct tfs_source *s;
	struct tfs_error err;
	int fd;

	assert_int_equal(tfs_source_open(p, NULL, &s, &err), 0);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 0, 0, &err), (ssize_t)sizeof(buf));
	assert_int_equal(tfs_source_splice_fd(s, 0, 0), -1);   /* nothing to splice */
	fd = tfs_source_splice_fd(s, 100, 5000);  /* -1 too on a kernel without cachestat(2) */
	if (fd >= 0) {
		memset(buf, 0, sizeof(buf));
		assert_int_equal(pread(fd, buf, 5000, 100), 5000);
		expect_pattern(buf, 5000, 100);
	}
	tfs_source_close(s);
	ck_rmrf(dir);
}

/* What is not a readable regular file gets an error naming it, from stat and open alike. */
static void test_not_a_file(void **state)
{
	char *dir = ck_tmpdir();
	const char *missing = ck_path(dir, "missing");
	struct tfs_source_info info;
	struct tfs_source *s = NULL;
	struct tfs_error err;

	assert_int_equal(tfs_source_stat(dir, &info, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_non_null(strstr(err.msg, dir));
	assert_int_equal(tfs_source_open(dir, NULL, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_int_equal(tfs_source_stat(missing, &info, &err), -ENOENT);
	assert_non_null(strstr(err.msg, missing));
	assert_int_equal(tfs_source_open(missing, NULL, &s, &err), -ENOENT);
	assert_non_null(strstr(err.msg, missing));
	assert_null(s);
	tfs_source_close(NULL);
	ck_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_written_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_written_with_mtime_restored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renamed_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_before_open, setup, teardown),
		cmocka_unit_test(test_short_reads_looped),
		cmocka_unit_test(test_direct_exact),
		cmocka_unit_test(test_readv_pieces),
		cmocka_unit_test(test_splice_fd),
		cmocka_unit_test(test_not_a_file),
	};
	return cmocka_run_group_tests_name("source", tests, NULL, NULL);
}
