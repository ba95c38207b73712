/*
 * cache.h - the block cache: fixed-size blocks of shard files, one LRU under a byte budget.
 *
 * The cache is the only owner of data buffers (docs/DESIGN.md). It does no I/O itself: a lookup
 * that misses creates the block in the LOADING state and hands it to the caller, who has it filled
 * (by the reader pool, loader/engine/reader.c) and calls tfs_cache_fill_done(). Everyone else who asks for
 * that block meanwhile gets the same LOADING block and waits on it, so one block is read once.
 *
 * Invariants, stated once:
 *  - Every block struct is counted in `bytes` by its `cap`: the bytes it can hold, page-rounded
 *    (block_size, or less for the last block of a file, so 500 files of 88 bytes cost 500 pages,
 *    not 500 blocks); its buffer is exactly that size.
 *  - The LRU list holds exactly the READY blocks with refs == 0; those and only those are evictable.
 *    Eviction takes the tail. A block goes to the head on its last release, except a block demand
 *    reads have now read all of ("consumed"), which goes to the tail: a reader going once through a
 *    checkpoint in any order (a model load) never needs it again, while a block read only in part
 *    holds the next tensor's first bytes. Without that rule a shuffled one-pass reader re-read the
 *    blocks that tensor boundaries share (1.6x the checkpoint from disk under a 1/4 budget).
 *    A block with refs > 0 (pinned: being copied out, or being read) is never evicted or reused.
 *  - After every call returns: bytes <= budget, or the LRU is empty (all resident blocks pinned).
 *    So the budget is exceeded by at most the pinned blocks.
 *  - A block holds the bytes [lo, hi) of its range of the file, its "window" (offsets in the block).
 *    A fill reads [flo, fhi): the first makes the window, a later one (growing) extends it by an
 *    adjacent piece, so a reader of one tensor reads only that tensor's part of the blocks at its
 *    edges and a neighbour's read adds its own part later (without this, a shuffled reader read the
 *    whole block at both edges of every tensor: 1.43x the checkpoint from disk).
 *  - Bytes inside the window are written only by the fill that brought them; once there they never
 *    change until the block is freed, so a holder of a reference reads them without the lock. A
 *    growing fill writes outside the window only, while other holders read inside it.
 *  - A block removed from the hash (failed read, invalidated file) is "dead": it is freed on its last
 *    release and never found again.
 */
#ifndef TFS_CACHE_H
#define TFS_CACHE_H

#include <pthread.h>
#include <stdint.h>
#include <stddef.h>

#include "list.h"
#include "tensorfs.h"

enum tfs_block_state { TFS_BLOCK_LOADING, TFS_BLOCK_READY, TFS_BLOCK_FAILED };

/* Why a block was created: decides eviction rights at lookup and what the read counts towards. */
enum tfs_block_origin { TFS_ORIGIN_DEMAND, TFS_ORIGIN_PREFETCH, TFS_ORIGIN_WARM };

struct tfs_block {
	uint32_t file;                  /* immutable */
	uint64_t index;                 /* block number in the file: bytes [index*bs, (index+1)*bs) */
	uint8_t *data;                  /* block_size bytes (NULL until fill_begin); filler writes it */
	uint32_t lo, hi;                /* the window: valid bytes [lo, hi) (see above); cache->lock */
	uint32_t flo, fhi;              /* what the pending fill reads; set under cache->lock before the
					 * job is queued, read by the filler */
	unsigned char growing;          /* READY, and a fill extending the window is pending;
					 * cache->lock */
	uint64_t cap;                   /* buffer bytes and budget charge; immutable */
	enum tfs_block_origin origin;   /* immutable */
	enum tfs_block_state state;     /* protected by cache->lock */
	int err;                        /* negative errno when FAILED; cache->lock */
	unsigned refs;                  /* cache->lock */
	unsigned char in_hash;          /* 0 once dead; cache->lock */
	unsigned char unused_prefetch;  /* prefetched, no demand touched it yet; cache->lock */
	unsigned char buf_kind;         /* how data was allocated (cache.c); travels with the buffer */
	uint64_t stamp;                 /* cache clock at last release, 0 once consumed: the LRU is
					 * in descending stamp order; cache->lock */
	uint64_t touched;               /* which of 64 equal segments of the block demand reads copied
					 * out of (tfs_cache_release_read); cache->lock */
	struct tfs_list lru;            /* cache->lock; linked iff READY && refs == 0 */
	struct tfs_block *hnext;                /* hash chain; cache->lock */
	/* Reader queue links (loader/engine/reader.c); protected by reader->lock, not cache->lock. */
	struct tfs_list rq;
	unsigned char rq_queued, rq_high, rq_boost;
	struct tfs_block *chain;        /* the next block of the same read job, or NULL */
	struct tfs_block *chain_head;   /* the job's first block (queued for it) while queued or
					 * being read; NULL otherwise */
};

struct tfs_cache;

struct tfs_cache_stats {
	uint64_t hits, misses;             /* demand lookups only */
	uint64_t bytes_prefetched;         /* valid bytes of prefetch/warm blocks that loaded */
	uint64_t bytes_prefetched_unused;  /* of those, evicted or invalidated untouched */
	uint64_t evictions;
	uint64_t bytes, peak_bytes, budget, block_size;
	uint64_t blocks, pinned_blocks;
};

/*
 * Opens a cache of blocks of `block_size` bytes (a power of two >= 4096, validated by the engine)
 * under a budget of `budget` bytes (>= block_size). Decides how buffers are pinned (see
 * tfs_cache_pinning). On success *out is owned by the caller; release with tfs_cache_close().
 */
int tfs_cache_open(uint64_t block_size, uint64_t budget, struct tfs_cache **out,
		   struct tfs_error *err);
/* Frees every block. No block may be pinned any more (all references released). Cannot fail. */
void tfs_cache_close(struct tfs_cache *c);

/* Tells the cache the files' sizes (kept by pointer: they must outlive the cache), so a block
 * near the end of a file is charged and allocated only the pages it holds. Call before any
 * lookup; without it every block costs block_size. Cannot fail. */
void tfs_cache_set_files(struct tfs_cache *c, const struct tfs_file *const *files, size_t n);
/* What a block holding `valid` bytes costs: valid rounded up to a page, at least one page, at most
 * block_size. */
uint64_t tfs_cache_charge(const struct tfs_cache *c, uint64_t valid);

/* "cuda", "mlock", "none (reason)" or a partial variant; owned by the cache, stable until close. */
const char *tfs_cache_pinning(const struct tfs_cache *c);

/* "madvise" when block buffers are aligned to and madvised for transparent huge pages (one
 * device IO per O_DIRECT block read), else "off (reason)". Owned by the cache, stable until close. */
const char *tfs_cache_huge_pages(const struct tfs_cache *c);

/* Results of tfs_cache_lookup() beside the negative errnos. */
#define TFS_CACHE_HIT     0   /* READY; a reference is held */
#define TFS_CACHE_LOADING 1   /* another filler is reading it; reference held; tfs_cache_wait() */
#define TFS_CACHE_FILL    2   /* created LOADING; reference held; the caller must have it filled:
                               * tfs_cache_fill_begin(), write data, tfs_cache_fill_done() */

/*
 * Finds or creates block (file, index) for `origin`.
 *  - DEMAND: counts a hit or a miss, clears the block's unused-prefetch mark, and makes room by
 *    evicting LRU blocks; when all blocks are pinned it goes over the budget (never fails for room).
 *  - PREFETCH: returns -EEXIST (no reference) if the block exists. -ENOSPC when untouched
 *    prefetched blocks already hold half the budget, when every block is pinned, or when the LRU
 *    victim is itself an untouched prefetched or warmed block; otherwise evicts the LRU tail.
 *  - WARM: like PREFETCH but never evicts: -ENOSPC once the budget is used.
 * -ENOMEM when the block struct cannot be allocated (the cache is then unchanged).
 */
int tfs_cache_lookup(struct tfs_cache *c, uint32_t file, uint64_t index,
		     enum tfs_block_origin origin, struct tfs_block **out);

/*
 * The same for part of a block: the caller needs bytes [need_lo, need_hi) of it (offsets in the
 * block, clamped to its end in the file) and would read [fill_lo, fill_hi) (a superset; fill_lo a
 * multiple of 4096) when a read is needed. A new block is filled with that range only.
 *  - A READY block whose window holds the need is a HIT. One that does not, and is not growing,
 *    starts growing: TFS_CACHE_FILL with the piece of fill range next to its window in
 *    [flo, fhi) (its other holders keep reading the window meanwhile).
 *  - LOADING is returned for a block being filled or grown: after tfs_cache_wait() the caller
 *    checks tfs_cache_holds() and, if the need is still not there, releases and looks up again.
 * tfs_cache_lookup() is this with the whole block as need and fill range.
 */
int tfs_cache_lookup_range(struct tfs_cache *c, uint32_t file, uint64_t index,
			   enum tfs_block_origin origin, uint64_t need_lo, uint64_t need_hi,
			   uint64_t fill_lo, uint64_t fill_hi, struct tfs_block **out);

/* 1 when a held block's window holds bytes [lo, hi) (offsets in the block). */
int tfs_cache_holds(struct tfs_cache *c, struct tfs_block *b, uint64_t lo, uint64_t hi);

/* Gives a FILL block its buffer (a victim's reused one, or a fresh pinned one): the filler calls it
 * before writing data, off the lookup caller's path. 0, or -ENOMEM: then fill_done(-ENOMEM). */
int tfs_cache_fill_begin(struct tfs_cache *c, struct tfs_block *b);

/* Takes one more reference on a block the caller already holds (e.g. for a queued read job). */
void tfs_cache_hold(struct tfs_cache *c, struct tfs_block *b);

/*
 * Ends the fill of a LOADING or growing block: rc >= 0 is the bytes read from flo (the window
 * becomes or grows by [flo, flo + rc); READY), rc < 0 a negative errno (the block leaves the hash
 * so the next lookup reads again, and waiters get rc; a growing block's window stays readable by
 * its holders). Wakes waiters. The filler's reference stays held.
 */
void tfs_cache_fill_done(struct tfs_cache *c, struct tfs_block *b, long rc);

/* Waits until a held block is neither LOADING nor growing; returns 0 (READY) or its negative errno. */
int tfs_cache_wait(struct tfs_cache *c, struct tfs_block *b);

/*
 * Drops one reference. The last one links a live READY block at the LRU head (most recent) and
 * trims the cache back under budget; it frees a dead block. Cannot fail.
 */
void tfs_cache_release(struct tfs_cache *c, struct tfs_block *b);
/* The same after a demand read copied bytes [off, off+len) of the block out: once every segment
 * of its valid bytes was read so, the block is consumed (see the invariants). Cannot fail. */
void tfs_cache_release_read(struct tfs_cache *c, struct tfs_block *b, uint64_t off, uint64_t len);

/* Drops every block of `file` from the cache; pinned ones die on their last release. */
void tfs_cache_invalidate_file(struct tfs_cache *c, uint32_t file);

/* 1 when block (file, index) is resident and READY; for tests and the warm-up. */
int tfs_cache_resident(struct tfs_cache *c, uint32_t file, uint64_t index);

/* Bytes of readahead (PREFETCH) blocks no demand read has touched yet: how far readahead is
 * ahead of its readers. */
uint64_t tfs_cache_readahead_unused(struct tfs_cache *c);

void tfs_cache_stats(struct tfs_cache *c, struct tfs_cache_stats *out);

/* Checks the invariants above (hash, LRU, counts, budget, windows); returns 0 or -EFAULT. For tests. */
int tfs_cache_check(struct tfs_cache *c);

#endif
