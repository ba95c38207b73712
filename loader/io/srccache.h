/*
 * srccache.h - the byte sources of the checkpoint files, opened on first use and recycled.
 *
 * A folder may hold more files than the process may keep open (10,000 shards under the usual
 * `ulimit -n 1024`), and every file kept open (a local source holds one descriptor, two once it
 * reads with O_DIRECT) would also starve the FUSE session of its own descriptors. So a file's
 * source is opened when a read first needs it, and at most `max_open` sources stay open: the least
 * recently used unheld one is closed to make room, and opened again when needed. A held source
 * (between get and put) is never closed, so the cap may be exceeded by the sources held at once
 * (at most one per reader thread and per reply in flight).
 *
 * Reopening is safe: each open checks the file against the catalog's view (same identity, size and
 * mtime: tfs_source_open's `expect`), so a file replaced, resized or touched while its source was
 * closed is refused (-EIO), never read. (A write that keeps size and mtime while the source is
 * closed is caught by the engine's change watch, io/watch.h, not here.)
 *
 * Change checks (tfs_srccache_check) decide when a source's check() - an fstat and a stat of the
 * path, io/source_file.c - really runs:
 *   - unwatched (the default): on every call, as a library user without a change watch needs;
 *   - watched (tfs_srccache_watched, while the engine's change watch, io/watch.h, runs): only when
 *     the watch said the file may have changed (tfs_srccache_suspect: an inotify event naming it,
 *     or a change of the mount table), and at most once per TFS_SRCCACHE_BACKSTOP_MS otherwise, a
 *     backstop for what neither sees (a hard link written from an unwatched folder, a network
 *     filesystem changed by another machine). The calls between cost no system call.
 *
 * Locking: srccache->lock guards every entry's source, hold count and LRU link, and the open count.
 * Opening runs under it (rare: once per file unless the cap recycles). The check state (suspect,
 * next full check, the watched flag, the count of full checks) is atomic and needs no lock.
 * Ownership: tfs_srccache_open hands the caller one cache, released by tfs_srccache_close.
 */
#ifndef TFS_SRCCACHE_H
#define TFS_SRCCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "io/source.h"
#include "tensorfs.h"

struct tfs_srccache;

/*
 * A cache over files[0..n) (kept by pointer: they must outlive it) keeping at most max_open
 * sources open (0: tfs_srccache_default_max()). Opens nothing yet. 0 or -ENOMEM.
 */
int tfs_srccache_open(const struct tfs_file *const *files, size_t n, unsigned max_open,
		      struct tfs_srccache **out, struct tfs_error *err);
/* Closes every source; none may be held. Accepts NULL; cannot fail. */
void tfs_srccache_close(struct tfs_srccache *c);

/*
 * Holds the source of `file`, opening it if needed, until tfs_srccache_put. 0 and *out, or -errno
 * with a message naming the file: it will not open (-EMFILE names the descriptor limit), or it is
 * not the file the catalog saw (-EIO). On error nothing is held.
 */
int tfs_srccache_get(struct tfs_srccache *c, uint32_t file, struct tfs_source **out,
		     struct tfs_error *err);
void tfs_srccache_put(struct tfs_srccache *c, uint32_t file);

/* The longest a watched file goes without a full check (see the top of this file). */
#define TFS_SRCCACHE_BACKSTOP_MS 1000

/*
 * Checks that `file`, whose source `src` the caller holds, is still the one described at open:
 * runs tfs_source_check() or trusts the watch (see the top of this file). 0, or check()'s -EIO
 * with a message naming the file and the change.
 */
int tfs_srccache_check(struct tfs_srccache *c, uint32_t file, struct tfs_source *src,
		       struct tfs_error *err);
/* on: a change watch runs and calls tfs_srccache_suspect for every event; checks trust it.
 * off: every check runs again. */
void tfs_srccache_watched(struct tfs_srccache *c, int on);
/* The watch saw an event that may mean `file` changed: its next check runs in full. */
void tfs_srccache_suspect(struct tfs_srccache *c, uint32_t file);
/* Checks that ran in full (each one an fstat and a stat for a local file) since open. */
uint64_t tfs_srccache_full_checks(struct tfs_srccache *c);

/* Sources open now, most ever open at once, and the cap. */
void tfs_srccache_stats(struct tfs_srccache *c, unsigned *open_now, unsigned *peak, unsigned *cap);

/* The cap for max_open 0: a quarter of RLIMIT_NOFILE's soft limit (two descriptors a source, half
 * the limit left to the rest of the process), at least 8. */
unsigned tfs_srccache_default_max(void);

#endif
