/*
 * engine.h - internals of the engine shared by engine.c, stream.c (readahead) and warm.c (eager
 * warm-up). Front ends and the device loader use the public API only (tensorfs.h), including
 * tfs_engine_read_pinned to copy straight out of cache blocks.
 *
 * Data flow: engine.c turns a byte range into block lookups in the cache (cache.c), hands misses to
 * the reader pool (reader.c), asks the caller's stream (stream.c) what to prefetch next, and copies
 * pinned blocks out. warm.c feeds the same reader pool at background priority.
 */
#ifndef TFS_ENGINE_H
#define TFS_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/cache.h"
#include "engine/profile.h"
#include "engine/reader.h"
#include "io/watch.h"
#include "tensorfs.h"

struct tfs_engine {
	const struct tfs_catalog *cat;
	struct tfs_engine_opts opts;      /* effective values (defaults filled); immutable */
	uint64_t bs;                      /* opts.block_size; immutable */
	_Atomic enum tfs_strategy strategy; /* effective (auto resolved); changes at most once (auto) */
	char strategy_reason[256];        /* immutable after open */
	uint64_t ra_init, ra_max;         /* readahead window bounds in bytes (0: none); immutable */
	size_t n_files;
	const struct tfs_file **files;    /* catalog's structs; immutable */
	struct tfs_cache *cache;
	struct tfs_reader *reader;
	atomic_uint_fast64_t *seq_end;    /* per file: end of its last read through any stream, 0 none */
	size_t *tensor_first;             /* file f's tensors are the catalog's [f], [f+1]); immutable */
	atomic_uint_fast64_t reads, bytes_served, errors;
	atomic_uint_fast64_t bytes_hot;   /* served by tfs_engine_read_hot (hot.c) */

	/* change watch (tfs_engine_watch): fn runs on the watch's thread; set before it starts.
	 * watch is set and cleared by the owner thread under watch_lock, which reader threads take
	 * to report a change the watch cannot see (a remote file's; engine.c, on_reader_changed). */
	pthread_mutex_t watch_lock;
	struct tfs_watch *watch;          /* watch_lock for writes and for others' reads */
	tfs_change_fn change_fn;
	void *change_ctx;
	atomic_uchar *change_told;        /* per file: change_fn was called for it */

	/* eager warm-up (warm.c) */
	pthread_mutex_t warm_lock;
	pthread_cond_t warm_cond;         /* a warm block finished, or stop */
	unsigned warm_inflight;           /* warm_lock */
	int warm_stop;                    /* warm_lock */
	const char *warm_why;             /* warm_lock: progress note when abandoned, or NULL */
	/* auto with a learned order: the warm-up waits for the first demand reads and goes on only
	 * if they are where the order begins (a reader repeating itself; warm.c GATE_*), so a
	 * different reader (one tensor in ten) never pays for a warm-up it does not use. */
	atomic_int gate;                  /* TFS_GATE_*; set once from WAIT to GO or SHUT */
	atomic_uint gate_hits;            /* distinct first blocks seen near the order's head */
	_Atomic uint64_t gate_last;       /* the last one (file << 40 ^ block, + 1; 0 none) */
	int warm_started;                 /* owner thread only */
	pthread_t warm_thread;
	atomic_uint_fast64_t warm_done, warm_total;
	struct tfs_profile *profile;      /* learned warm-up order (profile.c); immutable pointer */

	/* auto: the strategy may change once after open, from eager to streaming, when the first
	 * readers read out of file order into a cold cache (engine.c, auto_observe). `strategy` and
	 * the reason pointer are read by stats without a lock. */
	atomic_int auto_live;             /* 1 while auto still watches */
	atomic_uint auto_seen, auto_cold_random;
	_Atomic(const char *) reason;     /* strategy_reason or switch_reason */
	char switch_reason[192];          /* written once before `reason` points to it */
	atomic_uint_fast64_t warm_skipped; /* of warm_done: resident in the page cache, not read */
};

/* The region of `file` holding offset `off` (inside the file): the tensor there, or the bytes
 * between two tensors (a header, padding). [*lo, *hi) are file offsets. */
void tfs_engine_region(const struct tfs_engine *e, uint32_t file, uint64_t off, uint64_t *lo,
		       uint64_t *hi);

/* engine.c: tells the learned-order recorder and the warm-up gate that readers asked for
 * [off, off+len) of `file` (non-empty, inside the file); every kind of read calls it once. */
void tfs_engine_note_read(struct tfs_engine *e, uint32_t file, uint64_t off, size_t len);

/*
 * hot.c: reads [off, off+len) of `file` straight into buf, past the cache, when the cache would
 * only add a copy: the range is in the kernel's page cache, or the source is remote (or reads
 * buffered anyway). -EAGAIN, with nothing read or counted, when the cache's O_DIRECT block reads
 * are the better way (a local range not resident), or the range is empty or out of bounds (the
 * cached read then reports it). Otherwise the bytes read (clamped to the file), or -errno naming
 * the file, counted as a read. Used by the device loader for host targets (place/load.c).
 */
ssize_t tfs_engine_read_uncached(struct tfs_engine *e, uint32_t file, uint64_t off, void *buf,
				 size_t len, struct tfs_error *err);

/* The cache, for tests. */
struct tfs_cache *tfs_engine_cache(struct tfs_engine *e);

/* stream.c: records a read of [off, end) of `file` through s, returns the blocks [*first, *end)
 * to prefetch (empty when the pattern is not sequential). Returns TFS_NOTE_* bits: the read was
 * sequential, and/or it was the stream's first. */
enum { TFS_NOTE_SEQ = 1, TFS_NOTE_FIRST = 2 };
int tfs_stream_note(struct tfs_stream *s, uint32_t file, uint64_t off, uint64_t end,
		    uint64_t *first, uint64_t *last);
/* stream.c: the file offsets [*lo, *hi) fills for the read tfs_stream_note() was last told may
 * bring in: the stream's extent (the one tensor a FUSE handle reads), or without one the regions
 * the read touches (tfs_engine_region), unless its reader walks the file in order (then all of
 * it); prefetch stays inside it too. */
void tfs_stream_fill_bound(struct tfs_stream *s, uint32_t file, uint64_t *lo, uint64_t *hi);

/* warm.c: starts the warm-up thread (eager); stops and joins it; reader callback for its blocks. */
int tfs_warm_start(struct tfs_engine *e, struct tfs_error *err);
void tfs_warm_stop(struct tfs_engine *e);
enum { TFS_GATE_OPEN = 0, TFS_GATE_WAIT, TFS_GATE_GO, TFS_GATE_SHUT };
/* warm.c: a demand read of blocks from `first` of `file` decides a waiting gate. */
void tfs_warm_gate_observe(struct tfs_engine *e, uint32_t file, uint64_t first);
/* Asks the warm-up to stop early without waiting; `why` is its progress note (static string). */
void tfs_warm_abandon(struct tfs_engine *e, const char *why);
void tfs_warm_block_done(void *engine, struct tfs_block *b, long rc);

#endif
