/*
 * test_filecheck.c - loader/io/filecheck.c: every way a checkpoint file can change under an open
 * descriptor is caught, with a message naming the file and the reason; an untouched file passes.
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
#include "io/filecheck.h"
#include "tensorfs.h"

struct fx {
	char *dir;
	char path[4096];
	struct tfs_file f;
	struct tfs_filecheck fc;
	int fd;
};

/* A 4 KiB file, its catalog view (stat now), an open descriptor and its filecheck. */
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
	x->f.path = x->path;
	x->f.rel = "model.safetensors";
	x->f.size = (uint64_t)st.st_size;
	x->f.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	x->f.dev = st.st_dev;
	x->f.ino = st.st_ino;
	assert_int_equal(tfs_filecheck_open(&x->fc, x->fd, &x->f, &err), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	close(x->fd);
	ck_rmrf(x->dir);
	free(x);
	return 0;
}

static void expect_changed(struct fx *x, const char *why)
{
	struct tfs_error err;

	assert_int_equal(tfs_filecheck(&x->fc, x->fd, &err), -EIO);
	assert_non_null(strstr(err.msg, x->path));
	if (!strstr(err.msg, why))
		fail_msg("'%s' does not say '%s'", err.msg, why);
}

static void test_unchanged(void **state)
{
	struct fx *x = *state;
	struct tfs_error err;
	char c;

	assert_int_equal(pread(x->fd, &c, 1, 0), 1);   /* reading changes nothing (atime only) */
	assert_int_equal(tfs_filecheck(&x->fc, x->fd, &err), 0);
	assert_int_equal(tfs_filecheck(&x->fc, x->fd, NULL), 0);
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
	struct tfs_filecheck fc;
	struct tfs_error err;
	struct tfs_file f = x->f;

	f.ino++;   /* the catalog stat()ed another inode than the one the engine opened */
	assert_int_equal(tfs_filecheck_open(&fc, x->fd, &f, &err), -EIO);
	assert_non_null(strstr(err.msg, "replaced by another file"));
	f = x->f;
	f.size++;
	assert_int_equal(tfs_filecheck_open(&fc, x->fd, &f, &err), -EIO);
	assert_non_null(strstr(err.msg, "size 4097 -> 4096"));
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
	};
	return cmocka_run_group_tests_name("filecheck", tests, NULL, NULL);
}
