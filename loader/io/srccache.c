/*
 * srccache.c - lazily opened, recycled byte sources of the checkpoint files (see srccache.h).
 *
 * Data flow: the reader holds a file's source (tfs_srccache_get) around each block read and change
 * check; the first get opens it against the catalog's view and counts it open; a put links an
 * unheld source at the head of the LRU; when max_open sources are open, a get that must open one
 * closes unheld sources from the LRU tail first. tfs_srccache_check consults the entry's suspect
 * flag and backstop deadline (atomics, no lock) before paying for the source's check().
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "error.h"
#include "io/srccache.h"
#include "list.h"

struct entry {
	const struct tfs_file *f;     /* catalog's; immutable */
	struct tfs_source *src;       /* NULL when closed; srccache->lock */
	unsigned held;                /* gets not yet put; srccache->lock */
	struct tfs_list lru;          /* linked iff open and not held; srccache->lock */
	/* Outlive the source (a recycled one is reopened against the catalog's view anyway). */
	atomic_int suspect;           /* the watch saw an event: the next check runs in full */
	atomic_int_fast64_t next_ns;  /* watched: no full check needed before this monotonic time */
};

struct tfs_srccache {
	pthread_mutex_t lock;
	struct entry *ents;           /* the array is immutable */
	size_t n;
	unsigned max_open;            /* immutable */
	unsigned n_open, peak;        /* lock */
	struct tfs_list lru;          /* open unheld sources, most recent first; lock */
	atomic_int watched;           /* checks trust the watch (srccache.h) */
	atomic_uint_fast64_t full_checks;
};

unsigned tfs_srccache_default_max(void)
{
	struct rlimit rl;
	rlim_t cap = 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		cap = rl.rlim_cur / 4;
	if (cap > 1u << 20)
		cap = 1u << 20;
	return cap < 8 ? 8 : (unsigned)cap;
}

int tfs_srccache_open(const struct tfs_file *const *files, size_t n, unsigned max_open,
		      struct tfs_srccache **out, struct tfs_error *err)
{
	struct tfs_srccache *c = calloc(1, sizeof(*c));

	if (c)
		c->ents = calloc(n ? n : 1, sizeof(*c->ents));
	if (!c || !c->ents) {
		free(c);
		return tfs_error_set(err, -ENOMEM, "byte sources: out of memory");
	}
	pthread_mutex_init(&c->lock, NULL);
	tfs_list_init(&c->lru);
	c->n = n;
	c->max_open = max_open ? max_open : tfs_srccache_default_max();
	for (size_t i = 0; i < n; i++) {
		c->ents[i].f = files[i];
		tfs_list_init(&c->ents[i].lru);
		atomic_init(&c->ents[i].suspect, 0);
		atomic_init(&c->ents[i].next_ns, 0);
	}
	atomic_init(&c->watched, 0);
	atomic_init(&c->full_checks, 0);
	*out = c;
	return 0;
}

/* Requires c->lock. */
static void close_entry(struct tfs_srccache *c, struct entry *e)
{
	tfs_source_close(e->src);
	e->src = NULL;
	if (tfs_list_linked(&e->lru))
		tfs_list_remove(&e->lru);
	c->n_open--;
}

/* Closes unheld sources from the LRU tail until fewer than `keep` are open. Requires c->lock. */
static void trim(struct tfs_srccache *c, unsigned keep)
{
	struct tfs_list *l;

	while (c->n_open >= keep && (l = tfs_list_last(&c->lru)))
		close_entry(c, tfs_list_entry(l, struct entry, lru));
}

void tfs_srccache_close(struct tfs_srccache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (c->ents[i].src)
			close_entry(c, &c->ents[i]);
	pthread_mutex_destroy(&c->lock);
	free(c->ents);
	free(c);
}

/* Opens e's source against the catalog's view. Requires c->lock; 0 or -errno. */
static int open_entry(struct tfs_srccache *c, struct entry *e, struct tfs_error *err)
{
	const struct tfs_file *f = e->f;
	/* The very file the catalog described, or -EIO naming what changed since. */
	struct tfs_source_info want = { f->size, f->mtime_ns, f->dev, f->ino, f->mode };
	struct rlimit rl = { 0, 0 };
	int rc;

	trim(c, c->max_open);
	rc = tfs_source_open(f->path, &want, &e->src, err);
	if (rc == -EMFILE || rc == -ENFILE) {
		trim(c, 1); /* the rest of the process took the room: give back all we can */
		rc = tfs_source_open(f->path, &want, &e->src, err);
	}
	if (rc == -EMFILE) {
		getrlimit(RLIMIT_NOFILE, &rl);
		return tfs_error_set(err, -EMFILE, "%s: cannot open: too many open files in this "
				     "process (limit %llu; raise it with ulimit -n)", f->path,
				     (unsigned long long)rl.rlim_cur);
	}
	if (rc < 0) {
		e->src = NULL;
		return rc;
	}
	c->n_open++;
	if (c->n_open > c->peak)
		c->peak = c->n_open;
	return 0;
}

int tfs_srccache_get(struct tfs_srccache *c, uint32_t file, struct tfs_source **out,
		     struct tfs_error *err)
{
	struct entry *e = &c->ents[file];
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (!e->src)
		rc = open_entry(c, e, err);
	if (rc == 0) {
		if (tfs_list_linked(&e->lru))
			tfs_list_remove(&e->lru);
		e->held++;
		*out = e->src;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void tfs_srccache_put(struct tfs_srccache *c, uint32_t file)
{
	struct entry *e = &c->ents[file];

	pthread_mutex_lock(&c->lock);
	if (--e->held == 0)
		tfs_list_push_front(&c->lru, &e->lru);
	pthread_mutex_unlock(&c->lock);
}

/* CLOCK_MONOTONIC_COARSE is read from the vDSO: no system call, a few ms of resolution, plenty
 * for a one-second backstop. */
static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int tfs_srccache_check(struct tfs_srccache *c, uint32_t file, struct tfs_source *src,
		       struct tfs_error *err)
{
	struct entry *e = &c->ents[file];
	int_fast64_t next, now;
	int rc;

	if (atomic_load(&c->watched)) {
		/* Cleared before the check: an event that lands during it sets it again, and the
		 * next check looks once more. */
		if (!atomic_exchange(&e->suspect, 0)) {
			now = now_ns();
			next = atomic_load(&e->next_ns);
			/* One caller per deadline pays for the backstop; the others trust it. */
			if (now < next || !atomic_compare_exchange_strong(
						  &e->next_ns, &next,
						  now + TFS_SRCCACHE_BACKSTOP_MS * 1000000ll))
				return 0;
		}
	}
	atomic_fetch_add(&c->full_checks, 1);
	rc = tfs_source_check(src, err);
	if (rc < 0)
		atomic_store(&e->suspect, 1); /* every later check looks again (and refuses) */
	return rc;
}

void tfs_srccache_watched(struct tfs_srccache *c, int on)
{
	atomic_store(&c->watched, on != 0);
}

void tfs_srccache_suspect(struct tfs_srccache *c, uint32_t file)
{
	atomic_store(&c->ents[file].suspect, 1);
}

uint64_t tfs_srccache_full_checks(struct tfs_srccache *c)
{
	return atomic_load(&c->full_checks);
}

void tfs_srccache_stats(struct tfs_srccache *c, unsigned *open_now, unsigned *peak, unsigned *cap)
{
	pthread_mutex_lock(&c->lock);
	*open_now = c->n_open;
	*peak = c->peak;
	*cap = c->max_open;
	pthread_mutex_unlock(&c->lock);
}
