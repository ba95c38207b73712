/*
 * test_srccache.c - unit tests of loader/io/srccache.c: sources open lazily, at most the cap stay
 * open (the least recently used unheld one closes), held ones never close, a file changed while its
 * source was recycled is refused on reopen, running out of descriptors says so, and watched checks
 * run in full only when suspected or due.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ckpt.h"
#include "io/srccache.h"

#define N_FILES 40

struct fix {
	char *dir;
	char *paths[N_FILES];
	struct tfs_file files[N_FILES];
	const struct tfs_file *fp[N_FILES];
};

static void stat_into(struct tfs_file *f)
{
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	f->size = (uint64_t)st.st_size;
	f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->mode = st.st_mode & 07777;
}

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));
	char name[32];

	x->dir = ck_tmpdir();
	for (int i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "f%02d.bin", i);
		x->paths[i] = strdup(ck_path(x->dir, name));
		assert_int_equal(ck_write_text(x->paths[i], name), 0);
		x->files[i].path = x->paths[i];
		stat_into(&x->files[i]);
		x->fp[i] = &x->files[i];
	}
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	for (int i = 0; i < N_FILES; i++)
		free(x->paths[i]);
	ck_rmrf(x->dir);
	free(x);
	return 0;
}

/* Reads the file's first bytes through its source and checks they are its name. */
static void check_src(struct fix *x, int i, struct tfs_source *src)
{
	char buf[32] = "", want[32];
	struct tfs_error err;

	snprintf(want, sizeof(want), "f%02d.bin", i);
	assert_int_equal(tfs_source_read(src, buf, strlen(want), 0, 0, &err), (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
}

static void test_cap_and_recycle(void **state)
{
	struct fix *x = *state;
	struct tfs_srccache *c;
	struct tfs_error err;
	struct tfs_source *src, *held;
	unsigned now, peak, cap;

	assert_int_equal(tfs_srccache_open(x->fp, N_FILES, 4, &c, &err), 0);
	tfs_srccache_stats(c, &now, &peak, &cap);
	assert_int_equal(now, 0); /* nothing opened up front */
	assert_int_equal(cap, 4);
	/* File 0 stays held through two passes over every file: never closed under its holder. */
	assert_int_equal(tfs_srccache_get(c, 0, &held, &err), 0);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 1; i < N_FILES; i++) {
			assert_int_equal(tfs_srccache_get(c, (uint32_t)i, &src, &err), 0);
			check_src(x, i, src);
			tfs_srccache_put(c, (uint32_t)i);
			tfs_srccache_stats(c, &now, &peak, &cap);
			assert_true(now <= 4);
		}
	}
	check_src(x, 0, held);
	tfs_srccache_put(c, 0);
	tfs_srccache_stats(c, &now, &peak, &cap);
	assert_true(peak <= 4);
	tfs_srccache_close(c);
}

/* A file rewritten while its source was closed for room is refused on reopen, naming it. */
static void test_changed_while_recycled(void **state)
{
	struct fix *x = *state;
	struct tfs_srccache *c;
	struct tfs_error err;
	struct tfs_source *src;

	assert_int_equal(tfs_srccache_open(x->fp, N_FILES, 2, &c, &err), 0);
	assert_int_equal(tfs_srccache_get(c, 0, &src, &err), 0);
	tfs_srccache_put(c, 0);
	for (int i = 1; i < 4; i++) { /* pushes file 0 out */
		assert_int_equal(tfs_srccache_get(c, (uint32_t)i, &src, &err), 0);
		tfs_srccache_put(c, (uint32_t)i);
	}
	assert_int_equal(ck_write_text(x->paths[0], "f00.bin, rewritten"), 0);
	assert_int_equal(tfs_srccache_get(c, 0, &src, &err), -EIO);
	assert_non_null(strstr(err.msg, x->paths[0]));
	assert_non_null(strstr(err.msg, "changed"));
	tfs_srccache_close(c);
}

/* Watched, a check costs nothing until the watch suspects the file or the backstop is due. */
static void test_watched_checks_trust_the_watch(void **state)
{
	struct fix *x = *state;
	struct tfs_srccache *c;
	struct tfs_error err;
	struct tfs_source *src;

	assert_int_equal(tfs_srccache_open(x->fp, N_FILES, 4, &c, &err), 0);
	assert_int_equal(tfs_srccache_get(c, 0, &src, &err), 0);
	for (int i = 0; i < 10; i++) /* unwatched: every check runs */
		assert_int_equal(tfs_srccache_check(c, 0, src, &err), 0);
	assert_int_equal(tfs_srccache_full_checks(c), 10);
	tfs_srccache_watched(c, 1);
	for (int i = 0; i < 1000; i++) /* the first sets the backstop's deadline */
		assert_int_equal(tfs_srccache_check(c, 0, src, &err), 0);
	assert_int_equal(tfs_srccache_full_checks(c), 11);
	/* Changed, and the watch has not said so yet: trusted (the window README documents). */
	assert_int_equal(ck_write_text(x->paths[0], "f00.bin, rewritten"), 0);
	assert_int_equal(tfs_srccache_check(c, 0, src, &err), 0);
	tfs_srccache_suspect(c, 0);
	assert_int_equal(tfs_srccache_check(c, 0, src, &err), -EIO);
	assert_non_null(strstr(err.msg, x->paths[0]));
	assert_int_equal(tfs_srccache_check(c, 0, src, &err), -EIO); /* and from then on */
	assert_int_equal(tfs_srccache_full_checks(c), 13);
	tfs_srccache_put(c, 0);
	/* The backstop: a change no event reported is seen within TFS_SRCCACHE_BACKSTOP_MS. */
	assert_int_equal(tfs_srccache_get(c, 1, &src, &err), 0);
	assert_int_equal(tfs_srccache_check(c, 1, src, &err), 0);
	assert_int_equal(ck_write_text(x->paths[1], "f01.bin, rewritten"), 0);
	assert_int_equal(tfs_srccache_check(c, 1, src, &err), 0);
	usleep((TFS_SRCCACHE_BACKSTOP_MS + 100) * 1000);
	assert_int_equal(tfs_srccache_check(c, 1, src, &err), -EIO);
	tfs_srccache_put(c, 1);
	tfs_srccache_close(c);
}

/* Out of descriptors: the message names the file and the limit, not some other cause. */
static void test_emfile_names_the_limit(void **state)
{
	struct fix *x = *state;
	struct tfs_srccache *c;
	struct tfs_error err;
	struct tfs_source *src;
	struct rlimit old, tight;
	int hog[64], n = 0, rc;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	tight = old;
	tight.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	while (n < 64 && (hog[n] = dup(0)) >= 0)
		n++;
	assert_int_equal(tfs_srccache_open(x->fp, N_FILES, 8, &c, &err), 0);
	rc = tfs_srccache_get(c, 1, &src, &err);
	for (int i = 0; i < n; i++)
		close(hog[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rc, -EMFILE);
	assert_non_null(strstr(err.msg, x->paths[1]));
	assert_non_null(strstr(err.msg, "limit 64"));
	/* Not a change of the file: it opens once descriptors are back. */
	assert_int_equal(tfs_srccache_get(c, 1, &src, &err), 0);
	tfs_srccache_put(c, 1);
	tfs_srccache_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cap_and_recycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_while_recycled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emfile_names_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watched_checks_trust_the_watch, setup, teardown),
	};
	return cmocka_run_group_tests_name("srccache", tests, NULL, NULL);
}
