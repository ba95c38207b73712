/*
 * watch.c - inotify on the folders of the checkpoint files (see watch.h).
 *
 * Data flow: tfs_watch_open adds one inotify watch per distinct folder and starts a thread that
 * polls the inotify descriptor and a stop pipe; each event naming one of our files calls fn with
 * the file's index. Events of folders' other entries are ignored. Files are found by (watch,
 * basename) in a table sorted once at open, so a flood of write events costs a binary search each.
 * The thread also polls /proc/self/mountinfo, which the kernel flags (POLLPRI | POLLERR) after any
 * change of the mount table: inotify never reports a mount over a watched name, so every file is
 * reported then and the checks compare each path's inode with the open one. A third descriptor,
 * the report pipe, carries file indexes from tfs_watch_report (remote files, which have no
 * folder to watch), one uint32_t each (a pipe write that small is atomic).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "error.h"
#include "io/source.h"
#include "io/watch.h"

/* Every event that can mean "the bytes behind this name are not the ones we saw". */
#define EVENTS (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | \
		IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct entry {
	int wd;            /* the folder's watch */
	const char *base;  /* the file's name in it: in the tfs_file's path, or in `real` */
	char *real;        /* the file's resolved path when it is a link (owned), else NULL */
	uint32_t file;
};

struct tfs_watch {
	tfs_watch_fn fn;
	void *ctx;
	int ifd;               /* inotify; immutable */
	int mfd;               /* /proc/self/mountinfo, or -1 when it will not open; immutable */
	int stop[2];           /* a byte written to stop[1] ends the thread */
	int rep[2];            /* tfs_watch_report: file indexes; both ends non-blocking */
	size_t n_files;        /* files given at open; immutable */
	struct entry *ents;    /* sorted by (wd, base); immutable after open */
	size_t n;              /* entries: one per file, two for a link (its folder and its target's) */
	pthread_t thread;
	int started;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->wd != y->wd)
		return x->wd < y->wd ? -1 : 1;
	return strcmp(x->base, y->base);
}

/* Calls fn for the file named `name` in the folder of watch `wd` (name NULL: every file there). */
static void dispatch(struct tfs_watch *w, int wd, const char *name)
{
	struct entry key = { .wd = wd, .base = name ? name : "" }, *e;
	size_t lo = 0, hi = w->n;

	while (lo < hi) { /* first entry >= key */
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_entry(&w->ents[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (e = w->ents + lo; e < w->ents + w->n && e->wd == wd; e++) {
		if (name && strcmp(e->base, name) != 0)
			break;
		w->fn(w->ctx, e->file);
	}
}

static void dispatch_all(struct tfs_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		w->fn(w->ctx, w->ents[i].file);
}

/* Calls fn for each file tfs_watch_report queued. */
static void drain_reports(struct tfs_watch *w)
{
	uint32_t files[256];
	ssize_t n;

	while ((n = read(w->rep[0], files, sizeof(files))) > 0)
		for (size_t i = 0; i < (size_t)n / sizeof(files[0]); i++)
			if (files[i] < w->n_files)
				w->fn(w->ctx, files[i]);
}

void tfs_watch_report(struct tfs_watch *w, uint32_t file)
{
	while (write(w->rep[1], &file, sizeof(file)) < 0 && errno == EINTR)
		;
}

static void *watch_main(void *arg)
{
	struct tfs_watch *w = arg;
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		/* A negative fd (no mountinfo) is skipped by poll. */
		struct pollfd p[4] = { { w->ifd, POLLIN, 0 }, { w->stop[0], POLLIN, 0 },
				       { w->mfd, POLLPRI, 0 }, { w->rep[0], POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		/* The mount table changed (the poll itself rearms it): a mount may now cover one
		 * of our names. */
		if (p[2].revents & (POLLPRI | POLLERR))
			dispatch_all(w);
		if (p[3].revents & POLLIN)
			drain_reports(w);
		if (!(p[0].revents & POLLIN))
			continue;
		n = read(w->ifd, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			break;
		}
		for (char *at = buf; at < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)at;

			at += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) { /* events were lost: every file is suspect */
				dispatch_all(w);
				continue;
			}
			/* The folder itself went away or moved: every file in it is suspect. */
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				dispatch(w, ev->wd, NULL);
			else if (ev->len)
				dispatch(w, ev->wd, ev->name);
		}
	}
	return NULL;
}

/* Watches the folder of `path` (one inotify watch per folder: the same folder gives the same wd)
 * and records (wd, basename) -> file as entry w->n. `owned` (NULL or path itself) becomes the
 * entry's, or is freed on error. */
static int add_entry(struct tfs_watch *w, const char *path, uint32_t file, char *owned,
		     struct tfs_error *err)
{
	const char *slash = strrchr(path, '/');
	struct entry *e = &w->ents[w->n];
	char dir[PATH_MAX];
	int rc;

	if (!slash)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else {
		rc = tfs_error_set(err, -ENAMETOOLONG, "%s: folder name too long to watch", path);
		goto fail;
	}
	e->wd = inotify_add_watch(w->ifd, dir, EVENTS);
	if (e->wd < 0) {
		rc = tfs_error_set(err, -errno, "%s: cannot watch for changes: %s%s", dir,
				   strerror(errno), errno == ENOSPC ? " (raise "
				   "/proc/sys/fs/inotify/max_user_watches)" : "");
		goto fail;
	}
	e->base = slash ? slash + 1 : path;
	e->real = owned;
	e->file = file;
	w->n++;
	return 0;
fail:
	free(owned);
	return rc;
}

int tfs_watch_open(const struct tfs_file *const *files, size_t n, tfs_watch_fn fn, void *ctx,
		   struct tfs_watch **out, struct tfs_error *err)
{
	struct tfs_watch *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return tfs_error_set(err, -ENOMEM, "watch: out of memory");
	w->fn = fn;
	w->ctx = ctx;
	w->stop[0] = w->stop[1] = -1;
	w->rep[0] = w->rep[1] = -1;
	w->n_files = n;
	/* Without it (no /proc) a mount over a shard is caught by the checks' backstop only. */
	w->mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->ifd < 0) {
		rc = tfs_error_set(err, -errno, "watch: inotify: %s", strerror(errno));
		goto fail;
	}
	if (pipe2(w->stop, O_CLOEXEC) < 0 || pipe2(w->rep, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = tfs_error_set(err, -errno, "watch: pipe: %s", strerror(errno));
		goto fail;
	}
	w->ents = calloc(n ? 2 * n : 1, sizeof(*w->ents));
	if (!w->ents) {
		rc = tfs_error_set(err, -ENOMEM, "watch: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		char *real;

		if (tfs_source_is_url(files[i]->path))
			continue; /* no folder: its fetches report it */
		real = realpath(files[i]->path, NULL);
		rc = add_entry(w, files[i]->path, (uint32_t)i, NULL, err);
		/* A link (Hugging Face caches link each shard to a blob in another folder): a write
		 * to the blob is reported in the blob's folder, so that one is watched too. */
		if (rc == 0 && real && strcmp(real, files[i]->path) != 0) {
			rc = add_entry(w, real, (uint32_t)i, real, err);
			real = NULL; /* owned by the entry now, or freed by add_entry */
		}
		free(real);
		if (rc < 0)
			goto fail;
	}
	qsort(w->ents, w->n, sizeof(*w->ents), cmp_entry);
	rc = -pthread_create(&w->thread, NULL, watch_main, w);
	if (rc < 0) {
		tfs_error_set(err, rc, "watch: cannot start its thread: %s", strerror(-rc));
		goto fail;
	}
	w->started = 1;
	*out = w;
	return 0;
fail:
	tfs_watch_close(w);
	return rc;
}

void tfs_watch_close(struct tfs_watch *w)
{
	if (!w)
		return;
	if (w->started) {
		char c = 0;

		while (write(w->stop[1], &c, 1) < 0 && errno == EINTR)
			;
		pthread_join(w->thread, NULL);
	}
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->mfd >= 0)
		close(w->mfd);
	if (w->stop[0] >= 0)
		close(w->stop[0]);
	if (w->stop[1] >= 0)
		close(w->stop[1]);
	for (int i = 0; i < 2; i++)
		if (w->rep[i] >= 0)
			close(w->rep[i]);
	for (size_t i = 0; w->ents && i < w->n; i++)
		free(w->ents[i].real);
	free(w->ents);
	free(w);
}
