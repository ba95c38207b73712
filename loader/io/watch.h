/*
 * watch.h - tells the engine, as soon as it happens, that a checkpoint file changed on disk.
 *
 * The change checks (io/srccache.h) refuse a changed file only when a read reaches the engine;
 * ranges the kernel's page cache of a mount already holds never do. A watch lets the front end
 * drop those too the moment a file changes. It uses inotify on the folders holding the files (one
 * watch per folder, so 10,000 shards cost a handful of watches): writes, truncation, metadata
 * changes, deletion, and renames onto or away from a file's name. A change of the mount table (a
 * file bind-mounted over a shard, which inotify never reports) reports every file. Changes neither
 * sees (a hard link written in another folder, network filesystems) are caught by the checks'
 * backstop (io/srccache.h), at most a second later. Remote files (URLs) have no folder to watch:
 * the fetch that finds one changed (its ETag or Last-Modified) reports it (tfs_watch_report), and
 * the watch thread handles it as it handles an event.
 *
 * Threads: one, started by tfs_watch_open and joined by tfs_watch_close; `fn` runs on it.
 * Ownership: tfs_watch_open hands the caller one watch, released by tfs_watch_close.
 */
#ifndef TFS_WATCH_H
#define TFS_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "tensorfs.h"

struct tfs_watch;

/* Called on the watch thread for file `file` (an index into the files given at open) each time
 * an event names it; the callee decides whether it really changed. */
typedef void (*tfs_watch_fn)(void *ctx, uint32_t file);

/*
 * Watches files[0..n) (kept by pointer: they must outlive the watch; URLs are not watched, only
 * reported) and calls fn(ctx, i) for each event on file i. 0, or -errno with a message (no inotify, no watch left on a folder: the caller
 * keeps working with a full check on every read). Nothing is left running on error.
 */
int tfs_watch_open(const struct tfs_file *const *files, size_t n, tfs_watch_fn fn, void *ctx,
		   struct tfs_watch **out, struct tfs_error *err);

/* Reports file `file` as an event would: fn(ctx, file) runs on the watch thread soon after. For
 * changes inotify cannot see. Any thread may call it; it never blocks (a report that finds the
 * queue full, thousands deep, is dropped: the checks still refuse the file). */
void tfs_watch_report(struct tfs_watch *w, uint32_t file);

/* Stops and joins the thread; fn is never called again once this returns. Accepts NULL; cannot
 * fail. */
void tfs_watch_close(struct tfs_watch *w);

#endif
