/*
 * reader.h - the parallel shard reader: worker threads that read cache blocks from the files.
 *
 * The reader owns the byte sources (io/source.h) of the catalog files, opened on first use and
 * recycled under a cap (io/srccache.h), and the "file changed since open" verdict. It fills blocks the cache handed out as TFS_CACHE_FILL; it never decides what to read.
 * Two queues: demand jobs (a caller waits) are always taken before prefetch and warm-up jobs, and a
 * queued background job is promoted when a caller starts waiting on it.
 */
#ifndef TFS_READER_H
#define TFS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/cache.h"
#include "io/source.h"
#include "tensorfs.h"

struct tfs_reader;

/* Called by a worker after tfs_cache_fill_done(), before the job's reference is dropped. rc is the
 * valid length or a negative errno (-ECANCELED when the reader closed first). */
typedef void (*tfs_reader_done_fn)(void *ctx, struct tfs_block *b, long rc);

/*
 * Serves every file in files[0..n_files) (the structs are kept by pointer: they must outlive the
 * reader) and starts `threads` workers filling blocks of `cache`. A file's byte source opens when a
 * read first needs it, so a file that will not open, or changed, fails its reads (naming it), not
 * this call. `done` may be NULL. On success *out is owned by the caller; release with
 * tfs_reader_close(). Errors: -ENOMEM, or a thread that would not start; nothing left running.
 */
int tfs_reader_open(struct tfs_cache *cache, const struct tfs_file *const *files, size_t n_files,
		    uint64_t block_size, unsigned threads, tfs_reader_done_fn done, void *ctx,
		    struct tfs_reader **out, struct tfs_error *err);

/* Stops and joins the workers; queued jobs fail with -ECANCELED (waiters wake). Cannot fail. */
void tfs_reader_close(struct tfs_reader *r);

/* Queues a LOADING block (the caller got TFS_CACHE_FILL) for reading; the job takes its own
 * reference, so the caller may release its one at once. high: a caller waits for it. */
void tfs_reader_submit(struct tfs_reader *r, struct tfs_block *b, int high);
/* The same for n blocks read as one request (one disk I/O): consecutive blocks of one file whose
 * fill ranges meet (each but the last fills to its block's end, each but the first from its
 * start). n <= TFS_READER_CHAIN_MAX. */
#define TFS_READER_CHAIN_MAX 16
void tfs_reader_submit_chain(struct tfs_reader *r, struct tfs_block **b, unsigned n, int high);
/* 1 when `file`'s source reads a chain as one request (io/source.h: readv); for the others
 * (remote sources) a chain would only serialise requests that run in parallel as single jobs. */
int tfs_reader_chains(struct tfs_reader *r, uint32_t file);

/* A caller waits on b: move it to the demand queue if it sits in the background one. */
void tfs_reader_promote(struct tfs_reader *r, struct tfs_block *b);

/*
 * Checks that `file` is unchanged (its source's check()); the first time it is not, marks it
 * changed and drops its blocks from the cache. 0, or -EIO with a message naming the file.
 */
int tfs_reader_check_file(struct tfs_reader *r, uint32_t file, struct tfs_error *err);
/*
 * Whether a change watch runs (on) and calls tfs_reader_suspect for each event naming a file: the
 * checks then trust it and stat a file only after an event or once a second (io/srccache.h).
 */
void tfs_reader_watched(struct tfs_reader *r, int on);
void tfs_reader_suspect(struct tfs_reader *r, uint32_t file);

/* fn(ctx, file) runs once per file, on whichever thread first finds it changed (a worker, a
 * reader's check, the watch thread), after its cached blocks were dropped. It must not block.
 * Set before any read. */
typedef void (*tfs_reader_changed_fn)(void *ctx, uint32_t file);
void tfs_reader_on_changed(struct tfs_reader *r, tfs_reader_changed_fn fn, void *ctx);
/* 1 once `file` was seen changed. */
int tfs_reader_file_changed(struct tfs_reader *r, uint32_t file);
/*
 * A block's fill fails with an errno only; this gives the source's message for it: 1 and *err set
 * (when not NULL) to the last failed block read of `file`, when that failure's errno is `code`;
 * else 0.
 */
int tfs_reader_last_error(struct tfs_reader *r, uint32_t file, int code, struct tfs_error *err);

/*
 * Asks the sources to bypass the page cache (TFS_SOURCE_DIRECT) from now on: the disk DMAs into
 * the cache's page-aligned blocks (one copy less per byte, and the page cache is left to others).
 * Blocks the page cache already holds whole are still read buffered (a copy beats a disk read).
 * Call right after tfs_reader_open, before any job. Cannot fail: a file that refuses O_DIRECT
 * keeps buffered reads (its source decides).
 */
void tfs_reader_enable_direct(struct tfs_reader *r);

/*
 * Holds the byte source of `file` (for splicing page-cache-hot ranges), opening it if needed:
 * sources are opened on first use and recycled under a cap (io/srccache.h), so release it with
 * tfs_reader_put_source. 0, or -errno with a message: -EIO (and the file is marked changed) when
 * it is gone or no longer the catalog's; -EMFILE when out of descriptors. Nothing held on error.
 */
int tfs_reader_hold_source(struct tfs_reader *r, uint32_t file, struct tfs_source **out,
			   struct tfs_error *err);
void tfs_reader_put_source(struct tfs_reader *r, uint32_t file);

/* Sources open now, most ever open at once, and the cap (io/srccache.h). */
void tfs_reader_source_stats(struct tfs_reader *r, unsigned *open_now, unsigned *peak,
			     unsigned *cap);

/* Block reads issued to the sources and bytes they returned, since open; bytes_resident: of those,
 * the blocks read buffered because the page cache held all of them. */
void tfs_reader_stats(struct tfs_reader *r, uint64_t *preads, uint64_t *bytes_from_disk,
		      uint64_t *bytes_resident);

/*
 * Reads [off, off+len) of `file` (inside the file) straight into buf, past the cache: one buffered
 * source read, checked against change as a block fill is, counted in the stats as block reads are.
 * Declines with -EAGAIN, reading nothing, when block reads bypass the page cache (enable_direct)
 * and this range is not all in it: the cache's O_DIRECT block reads are then the better way.
 * Returns len, or -errno naming the file (-EIO, and the file marked changed, when it changed).
 */
ssize_t tfs_reader_read_into(struct tfs_reader *r, uint32_t file, uint64_t off, void *buf,
			     size_t len, struct tfs_error *err);

/* 1 when all of [off, off+len) of `file` is in the kernel's page cache (a buffered read is then a
 * copy, not a disk read); 0 when not or unknown. */
int tfs_reader_resident(struct tfs_reader *r, uint32_t file, uint64_t off, uint64_t len);

#endif
