/*
 * watch.c - inotify on the folders of the checkpoint files (see watch.h).
 *
 * Data flow: tfs_watch_open adds one inotify watch per distinct folder and starts a thread that
 * polls the inotify descriptor and a stop pipe; each event naming one of our files calls fn with
 * the file's index. Events of folders' other entries are ignored. Files are found by (watch,
 * basename) in a table sorted once at open, so a flood of write events costs a binary search each.
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
#include "io/watch.h"

/* Every event that can mean "the bytes behind this name are not the ones we saw". */
#define EVENTS (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | \
		IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct entry {
	int wd;            /* the folder's watch */
	const char *base;  /* the file's name in it: points into the tfs_file's path */
	uint32_t file;
};

struct tfs_watch {
	tfs_watch_fn fn;
	void *ctx;
	int ifd;               /* inotify; immutable */
	int stop[2];           /* a byte written to stop[1] ends the thread */
	struct entry *ents;    /* sorted by (wd, base); immutable after open */
	size_t n;
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
	struct entry key = { wd, name ? name : "", 0 }, *e;
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

static void *watch_main(void *arg)
{
	struct tfs_watch *w = arg;
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		struct pollfd p[2] = { { w->ifd, POLLIN, 0 }, { w->stop[0], POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
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
				for (size_t i = 0; i < w->n; i++)
					w->fn(w->ctx, w->ents[i].file);
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
	w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->ifd < 0) {
		rc = tfs_error_set(err, -errno, "watch: inotify: %s", strerror(errno));
		goto fail;
	}
	if (pipe2(w->stop, O_CLOEXEC) < 0) {
		rc = tfs_error_set(err, -errno, "watch: pipe: %s", strerror(errno));
		goto fail;
	}
	w->ents = calloc(n ? n : 1, sizeof(*w->ents));
	if (!w->ents) {
		rc = tfs_error_set(err, -ENOMEM, "watch: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = files[i]->path, *slash = strrchr(path, '/');
		char dir[PATH_MAX];

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
		/* The same folder gives the same wd: one watch per folder. */
		w->ents[i].wd = inotify_add_watch(w->ifd, dir, EVENTS);
		if (w->ents[i].wd < 0) {
			rc = tfs_error_set(err, -errno, "%s: cannot watch for changes: %s%s", dir,
					   strerror(errno), errno == ENOSPC ? " (raise "
					   "/proc/sys/fs/inotify/max_user_watches)" : "");
			goto fail;
		}
		w->ents[i].base = slash ? slash + 1 : path;
		w->ents[i].file = (uint32_t)i;
	}
	w->n = n;
	qsort(w->ents, n, sizeof(*w->ents), cmp_entry);
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
	if (w->stop[0] >= 0)
		close(w->stop[0]);
	if (w->stop[1] >= 0)
		close(w->stop[1]);
	free(w->ents);
	free(w);
}
