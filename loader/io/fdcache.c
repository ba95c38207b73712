/*
 * fdcache.c - lazily opened, recycled descriptors of the checkpoint files (see fdcache.h).
 *
 * Data flow: the reader holds a file (tfs_fdcache_get) around each block read and change check;
 * the first get opens it (and its O_DIRECT twin), checks it against the catalog, and counts it
 * open; a put links an unheld file at the head of the LRU; when more than max_open files are open,
 * gets close unheld files from the LRU tail.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "io/fdcache.h"
#include "io/filecheck.h"
#include "list.h"

struct entry {
	const struct tfs_file *f;     /* catalog's; immutable */
	int fd, dfd;                  /* -1 when closed; fdcache->lock */
	unsigned held;                /* gets not yet put; fdcache->lock */
	int no_direct;                /* O_DIRECT refused once: never again; fdcache->lock */
	int seen;                     /* opened before: `check` holds the first open's state;
				       * fdcache->lock */
	struct tfs_filecheck check;   /* written at first open under the lock, then immutable */
	struct tfs_list lru;          /* linked iff open and not held; fdcache->lock */
};

struct tfs_fdcache {
	pthread_mutex_t lock;
	struct entry *ents;           /* immutable array */
	size_t n;
	unsigned max_open;            /* immutable */
	unsigned n_open, peak;        /* lock */
	int direct;                   /* lock */
	struct tfs_list lru;          /* open unheld files, most recent first; lock */
};

unsigned tfs_fdcache_default_max(void)
{
	struct rlimit rl;
	rlim_t cap = 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		cap = rl.rlim_cur / 4;
	if (cap > 1u << 20)
		cap = 1u << 20;
	return cap < 8 ? 8 : (unsigned)cap;
}

int tfs_fdcache_open(const struct tfs_file *const *files, size_t n, unsigned max_open,
		     struct tfs_fdcache **out, struct tfs_error *err)
{
	struct tfs_fdcache *c = calloc(1, sizeof(*c));

	if (c)
		c->ents = calloc(n ? n : 1, sizeof(*c->ents));
	if (!c || !c->ents) {
		free(c);
		return tfs_error_set(err, -ENOMEM, "file descriptors: out of memory");
	}
	pthread_mutex_init(&c->lock, NULL);
	tfs_list_init(&c->lru);
	c->n = n;
	c->max_open = max_open ? max_open : tfs_fdcache_default_max();
	for (size_t i = 0; i < n; i++) {
		c->ents[i].f = files[i];
		c->ents[i].fd = c->ents[i].dfd = -1;
		tfs_list_init(&c->ents[i].lru);
	}
	*out = c;
	return 0;
}

/* Requires c->lock. */
static void close_entry(struct tfs_fdcache *c, struct entry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->dfd >= 0)
		close(e->dfd);
	e->fd = e->dfd = -1;
	if (tfs_list_linked(&e->lru))
		tfs_list_remove(&e->lru);
	c->n_open--;
}

/* Closes unheld files from the LRU tail until fewer than `keep` are open. Requires c->lock. */
static void trim(struct tfs_fdcache *c, unsigned keep)
{
	struct tfs_list *l;

	while (c->n_open >= keep && (l = tfs_list_last(&c->lru)))
		close_entry(c, tfs_list_entry(l, struct entry, lru));
}

void tfs_fdcache_close(struct tfs_fdcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (c->ents[i].fd >= 0)
			close_entry(c, &c->ents[i]);
	pthread_mutex_destroy(&c->lock);
	free(c->ents);
	free(c);
}

void tfs_fdcache_enable_direct(struct tfs_fdcache *c)
{
	pthread_mutex_lock(&c->lock);
	c->direct = 1;
	pthread_mutex_unlock(&c->lock);
}

/* Opens e's descriptors and checks them. Requires c->lock; 0 or -errno (nothing left open). */
static int open_entry(struct tfs_fdcache *c, struct entry *e, struct tfs_error *err)
{
	const struct tfs_file *f = e->f;
	struct tfs_filecheck now;
	int fd, rc;

	trim(c, c->max_open);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
		trim(c, 1); /* the rest of the process took the room: give back all we can */
		fd = open(f->path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		struct rlimit rl = { 0, 0 };

		if (errno != EMFILE)
			return tfs_error_set(err, -errno, "%s: cannot open: %s", f->path,
					     strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
		return tfs_error_set(err, -EMFILE, "%s: cannot open: too many open files in this "
				     "process (limit %llu; raise it with ulimit -n)", f->path,
				     (unsigned long long)rl.rlim_cur);
	}
	rc = tfs_filecheck_open(&now, fd, f, err);
	if (rc == 0 && e->seen && now.ctime_ns != e->check.ctime_ns)
		rc = tfs_error_set(err, -EIO, "%s: changed since it was opened: modified (ctime "
				   "moved while its descriptor was recycled)", f->path);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if (!e->seen)
		e->check = now;
	e->seen = 1;
	e->fd = fd;
	e->dfd = -1;
	if (c->direct && !e->no_direct) {
		int dfd = open(f->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
		struct stat st;

		/* Only the very inode the catalog described: a rename between two opens is refused. */
		if (dfd >= 0 && (fstat(dfd, &st) < 0 || (uint64_t)st.st_dev != f->dev ||
				 (uint64_t)st.st_ino != f->ino)) {
			close(dfd);
			dfd = -1;
		}
		e->dfd = dfd;
	}
	c->n_open++;
	if (c->n_open > c->peak)
		c->peak = c->n_open;
	return 0;
}

int tfs_fdcache_get(struct tfs_fdcache *c, uint32_t file, struct tfs_fds *out,
		    struct tfs_error *err)
{
	struct entry *e = &c->ents[file];
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (e->fd < 0)
		rc = open_entry(c, e, err);
	if (rc == 0) {
		if (tfs_list_linked(&e->lru))
			tfs_list_remove(&e->lru);
		e->held++;
		out->fd = e->fd;
		out->dfd = e->dfd;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void tfs_fdcache_put(struct tfs_fdcache *c, uint32_t file)
{
	struct entry *e = &c->ents[file];

	pthread_mutex_lock(&c->lock);
	if (--e->held == 0)
		tfs_list_push_front(&c->lru, &e->lru);
	pthread_mutex_unlock(&c->lock);
}

void tfs_fdcache_no_direct(struct tfs_fdcache *c, uint32_t file)
{
	pthread_mutex_lock(&c->lock);
	/* Held descriptors stay valid until put; the holder stops using its dfd by itself. */
	c->ents[file].no_direct = 1;
	pthread_mutex_unlock(&c->lock);
}

int tfs_fdcache_check(struct tfs_fdcache *c, uint32_t file, struct tfs_error *err)
{
	struct tfs_fds fds;
	int rc = tfs_fdcache_get(c, file, &fds, err);

	/* Out of descriptors or memory says nothing about the file: the caller may try again. */
	if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM)
		return rc;
	if (rc == -ENOENT)
		return tfs_error_set(err, -EIO, "%s: changed since it was opened: deleted or renamed "
				     "away", c->ents[file].f->path);
	if (rc < 0)
		return -EIO; /* the message says why */
	rc = tfs_filecheck(&c->ents[file].check, fds.fd, err);
	tfs_fdcache_put(c, file);
	return rc;
}

void tfs_fdcache_stats(struct tfs_fdcache *c, unsigned *open_now, unsigned *peak, unsigned *cap)
{
	pthread_mutex_lock(&c->lock);
	*open_now = c->n_open;
	*peak = c->peak;
	*cap = c->max_open;
	pthread_mutex_unlock(&c->lock);
}
