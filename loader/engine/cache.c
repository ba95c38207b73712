/*
 * cache.c - the block cache (see cache.h for the contract and its invariants).
 *
 * Data flow: the engine asks the cache for the blocks covering a read; resident blocks are pinned
 * and copied out, missing ones are created LOADING and filled by the reader pool (reader.c), which
 * is how concurrent requests for one block coalesce into one pread. Eviction is LRU under a byte
 * budget; a victim's buffer is reused for the new block, so steady-state streaming allocates
 * nothing (pinned allocations - cudaHostAlloc, mlock - are slow, and we want them once). Blocks
 * demand reads have read all of are evicted first (cache.h).
 *
 * Locking: one mutex (cache->lock) guards the hash, the LRU, reference counts, states and counters.
 * It is never held across I/O or buffer allocation; new buffers are allocated by the filler (a
 * reader worker), so a caller that only queues readahead never pays for faulting in memory. Block data is read without it by reference
 * holders (a READY block never changes while referenced).
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "engine/cache.h"
#include "fmt.h"
#include "minmax.h"
#include "error.h"

enum { BUF_MMAP, BUF_LOCKED, BUF_CUDA };
#define CUDA_HOST_ALLOC_PORTABLE 1u /* cudaHostAllocPortable: pinned for every CUDA context */

struct tfs_cache {
	pthread_mutex_t lock;
	pthread_cond_t filled;          /* broadcast by fill_done; waiters recheck their block */
	uint64_t bs, budget;            /* immutable */
	unsigned seg_shift;             /* log2(bs / 64): a block's segments for `touched`; immutable */
	const struct tfs_file *const *files; /* tfs_cache_set_files; set before any lookup */
	size_t n_files;
	struct tfs_block **buckets;     /* cache->lock */
	size_t mask;                    /* immutable: buckets - 1 */
	struct tfs_list lru;            /* evictable blocks, next victim last (cache.h); cache->lock */
	uint64_t n_blocks, n_lru;       /* cache->lock */
	uint64_t bytes, peak, clock;    /* cache->lock */
	uint64_t hits, misses, prefetched, prefetched_unused, evictions; /* cache->lock */
	uint64_t ra_unused;             /* bytes of PREFETCH blocks no demand touched yet; cache->lock */

	/* Pinning, decided at open; `pinning` may switch once to pin_partial (atomic). */
	void *cudart;
	int (*cuda_host_alloc)(void **, size_t, unsigned);
	int (*cuda_free_host)(void *);
	int use_mlock;
	uint64_t lock_limit;            /* bytes we may mlock (RLIMIT_MEMLOCK), UINT64_MAX if no limit */
	atomic_uint_fast64_t locked;    /* bytes currently mlocked */
	_Atomic(const char *) pinning;
	char pin_str[128], pin_partial[128];
	/* Huge pages, decided at open (immutable): a block in 4 KiB pages turns one 2 MiB direct
	 * read into several device IOs; in a huge page it is one. */
	uint64_t huge;                  /* huge page size to align and madvise blocks to, or 0 */
	char huge_str[96];
};

/* CAP_IPC_LOCK lifts RLIMIT_MEMLOCK (root usually has it). Read from /proc to avoid libcap. */
static int have_cap_ipc_lock(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long caps = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps >> 14) & 1;
}

/* dl_iterate_phdr callback: copies the path of a loaded CUDA runtime (libcudart.so*) into ctx. */
static int find_cudart(struct dl_phdr_info *info, size_t size, void *ctx)
{
	const char *name = info->dlpi_name, *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	if (strncmp(base, "libcudart.so", 12) != 0)
		return 0;
	snprintf(ctx, PATH_MAX, "%s", name);
	return 1;
}

/*
 * CUDA pinned memory makes later host-to-device copies DMA straight from the cache. Only a CUDA
 * runtime already in the process is used: libtensorfs loads CUDA only when a CUDA device is asked
 * for (loader/place/backend.h), and starting it here would make every cpu-only user pay its
 * start-up. A caller that will load to a GPU asks for the GPU first (tensorfs load does; torch
 * has loaded its runtime already); otherwise the cache is pinned with mlock.
 * The loaded objects are looked at in memory: dlopen(RTLD_NOLOAD) by soname would search the
 * library path and read each candidate's ELF header to compare, a disk read at every mount
 * (~0.1 s after a cache drop on a throttled disk) on a machine that has no CUDA at all.
 */
static int try_cuda(struct tfs_cache *c)
{
	char path[PATH_MAX];
	int (*count)(int *);
	int n = 0;

	if (!dl_iterate_phdr(find_cudart, path))
		return 0;
	c->cudart = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	if (!c->cudart)
		return 0;
	*(void **)&count = dlsym(c->cudart, "cudaGetDeviceCount");
	*(void **)&c->cuda_host_alloc = dlsym(c->cudart, "cudaHostAlloc");
	*(void **)&c->cuda_free_host = dlsym(c->cudart, "cudaFreeHost");
	if (count && c->cuda_host_alloc && c->cuda_free_host && count(&n) == 0 && n > 0)
		return 1;
	c->cuda_host_alloc = NULL;
	c->cuda_free_host = NULL;
	dlclose(c->cudart);
	c->cudart = NULL;
	return 0;
}

static void choose_pinning(struct tfs_cache *c)
{
	struct rlimit rl;
	char lim[32], bud[32];

	if (try_cuda(c)) {
		snprintf(c->pin_str, sizeof(c->pin_str), "cuda");
		snprintf(c->pin_partial, sizeof(c->pin_partial),
			 "cuda (partial: cudaHostAlloc failed, some blocks unpinned)");
		atomic_store(&c->pinning, c->pin_str);
		return;
	}
	c->lock_limit = UINT64_MAX;
	if (!have_cap_ipc_lock() && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		c->lock_limit = rl.rlim_cur;
	tfs_fmt_bytes(c->lock_limit, lim, sizeof(lim));
	tfs_fmt_bytes(c->budget, bud, sizeof(bud));
	if (c->lock_limit >= c->budget) {
		c->use_mlock = 1;
		snprintf(c->pin_str, sizeof(c->pin_str), "mlock");
	} else if (c->lock_limit >= c->bs) {
		c->use_mlock = 1;
		snprintf(c->pin_str, sizeof(c->pin_str),
			 "mlock (partial: RLIMIT_MEMLOCK %s of a %s cache)", lim, bud);
	} else {
		snprintf(c->pin_str, sizeof(c->pin_str), "none (RLIMIT_MEMLOCK %s)", lim);
	}
	snprintf(c->pin_partial, sizeof(c->pin_partial), "mlock (partial: mlock failed)");
	atomic_store(&c->pinning, c->pin_str);
}

const char *tfs_cache_huge_pages(const struct tfs_cache *c)
{
	return c->huge_str;
}

const char *tfs_cache_pinning(const struct tfs_cache *c)
{
	return atomic_load(&((struct tfs_cache *)c)->pinning);
}

uint64_t tfs_cache_charge(const struct tfs_cache *c, uint64_t valid)
{
	uint64_t pages = (valid + 4095) / 4096 * 4096;

	return pages == 0 ? 4096 : pages < c->bs ? pages : c->bs;
}

/* Bytes of `file` that block `index` covers: block_size, less at the end, 0 past it (block_size
 * when the files are not known). */
static uint64_t block_extent(const struct tfs_cache *c, uint32_t file, uint64_t index)
{
	uint64_t size, off = index * c->bs;

	if (!c->files || file >= c->n_files)
		return c->bs;
	size = c->files[file]->size;
	return off >= size ? 0 : tfs_min_u64(size - off, c->bs);
}

/* What block (file, index) will hold, page-rounded: its buffer size and what it costs the budget. */
static uint64_t block_charge(const struct tfs_cache *c, uint32_t file, uint64_t index)
{
	return tfs_cache_charge(c, block_extent(c, file, index));
}

void tfs_cache_set_files(struct tfs_cache *c, const struct tfs_file *const *files, size_t n)
{
	c->files = files;
	c->n_files = n;
}

/* Transparent huge pages for block buffers when the kernel offers them (enabled = always or
 * madvise) and a block holds whole huge pages; otherwise blocks stay in base pages, quietly. */
static void choose_huge(struct tfs_cache *c)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	char line[128] = "";
	unsigned long long hp = 0;

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
	if (f) {
		if (fscanf(f, "%llu", &hp) != 1)
			hp = 0;
		fclose(f);
	}
	if (!strstr(line, "[always]") && !strstr(line, "[madvise]"))
		snprintf(c->huge_str, sizeof(c->huge_str), "off (transparent huge pages %s)",
			 line[0] ? "disabled" : "unavailable");
	else if (!hp || hp & (hp - 1) || c->bs < hp)
		snprintf(c->huge_str, sizeof(c->huge_str), "off (block smaller than a huge page)");
	else
		c->huge = hp;
	if (c->huge)
		snprintf(c->huge_str, sizeof(c->huge_str), "madvise");
}

/* Maps `len` bytes of anonymous memory aligned to `align` (a power of two, or 0: any). */
static void *map_aligned(size_t len, size_t align)
{
	uint8_t *p, *a;

	if (!align)
		return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return p;
	a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + len, (size_t)(p + align - a));
	return a;
}

/* Allocates one block buffer of `size` bytes; called without the lock (pinning can take
 * milliseconds). */
static uint8_t *buf_alloc(struct tfs_cache *c, uint64_t size, unsigned char *kind)
{
	void *p;
	uint64_t prev, huge;

	if (c->cuda_host_alloc) {
		if (c->cuda_host_alloc(&p, size, CUDA_HOST_ALLOC_PORTABLE) == 0) {
			*kind = BUF_CUDA;
			return p;
		}
		atomic_store(&c->pinning, c->pin_partial);
	}
	/* Huge pages only for buffers that hold whole ones (a tiny file's block stays small). */
	huge = c->huge && size % c->huge == 0 ? c->huge : 0;
	p = map_aligned(size, huge);
	if (p == MAP_FAILED)
		return NULL;
	if (huge)
		madvise(p, size, MADV_HUGEPAGE); /* a hint: base pages if none are free */
	*kind = BUF_MMAP;
	if (!c->use_mlock)
		return p;
	prev = atomic_fetch_add(&c->locked, size);
	if (prev + size <= c->lock_limit && mlock(p, size) == 0) {
		*kind = BUF_LOCKED;
		return p;
	}
	atomic_fetch_sub(&c->locked, size);
	if (prev + size <= c->lock_limit) /* under the limit yet refused: say so in the stats */
		atomic_store(&c->pinning, c->pin_partial);
	return p;
}

static void buf_free(struct tfs_cache *c, uint8_t *p, uint64_t size, unsigned char kind)
{
	if (!p)
		return;
	if (kind == BUF_CUDA) {
		c->cuda_free_host(p);
		return;
	}
	if (kind == BUF_LOCKED)
		atomic_fetch_sub(&c->locked, size);
	munmap(p, size); /* also unlocks */
}

/* Frees a chain (linked by hnext) of blocks detached under the lock; called without it. */
static void free_chain(struct tfs_cache *c, struct tfs_block *b)
{
	while (b) {
		struct tfs_block *next = b->hnext;
		buf_free(c, b->data, b->cap, b->buf_kind);
		free(b);
		b = next;
	}
}

static size_t slot(const struct tfs_cache *c, uint32_t file, uint64_t index)
{
	uint64_t h = (uint64_t)file * 0x9E3779B97F4A7C15ull ^ index * 0xC2B2AE3D27D4EB4Full;

	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return (size_t)h & c->mask;
}

/* Requires cache->lock. */
static struct tfs_block *hash_find(struct tfs_cache *c, uint32_t file, uint64_t index)
{
	struct tfs_block *b = c->buckets[slot(c, file, index)];

	while (b && (b->file != file || b->index != index))
		b = b->hnext;
	return b;
}

/* Requires cache->lock. */
static void hash_remove(struct tfs_cache *c, struct tfs_block *b)
{
	struct tfs_block **pp = &c->buckets[slot(c, b->file, b->index)];

	while (*pp != b)
		pp = &(*pp)->hnext;
	*pp = b->hnext;
	b->hnext = NULL;
	b->in_hash = 0;
}

/* Requires cache->lock. */
static void lru_unlink(struct tfs_cache *c, struct tfs_block *b)
{
	tfs_list_remove(&b->lru);
	c->n_lru--;
}

/* Requires cache->lock. */
static void lru_push_head(struct tfs_cache *c, struct tfs_block *b)
{
	tfs_list_push_front(&c->lru, &b->lru);
	c->n_lru++;
}

/* Takes a block out of the cache's accounting; requires cache->lock. The caller frees or reuses
 * its buffer. */
static void forget_block(struct tfs_cache *c, struct tfs_block *b)
{
	if (b->unused_prefetch && b->state == TFS_BLOCK_READY)
		c->prefetched_unused += b->hi - b->lo;
	if (b->unused_prefetch && b->origin == TFS_ORIGIN_PREFETCH)
		c->ra_unused -= b->cap;
	c->n_blocks--;
	c->bytes -= b->cap;
}

/* Evicts the LRU tail; requires cache->lock and a non-empty LRU. */
static struct tfs_block *evict_tail(struct tfs_cache *c)
{
	struct tfs_block *b = tfs_list_entry(tfs_list_last(&c->lru), struct tfs_block, lru);

	lru_unlink(c, b);
	hash_remove(c, b);
	forget_block(c, b);
	c->evictions++;
	return b;
}

int tfs_cache_open(uint64_t block_size, uint64_t budget, struct tfs_cache **out,
		   struct tfs_error *err)
{
	struct tfs_cache *c = calloc(1, sizeof(*c));
	uint64_t want = 2 * (budget / block_size);
	size_t n = 256;

	if (!c)
		return tfs_error_set(err, -ENOMEM, "cache: out of memory");
	while (n < want && n < (1u << 20))
		n <<= 1;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return tfs_error_set(err, -ENOMEM, "cache: out of memory");
	}
	c->mask = n - 1;
	c->bs = block_size;
	while ((64ull << c->seg_shift) < block_size) /* block_size is a power of two >= 4096 */
		c->seg_shift++;
	c->budget = budget;
	tfs_list_init(&c->lru);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->filled, NULL);
	choose_pinning(c);
	choose_huge(c);
	*out = c;
	return 0;
}

void tfs_cache_close(struct tfs_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i <= c->mask; i++)
		free_chain(c, c->buckets[i]);
	free(c->buckets);
	if (c->cudart)
		dlclose(c->cudart);
	pthread_cond_destroy(&c->filled);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Decides whether a new block of `need` bytes may be added, evicting LRU blocks if needed;
 * requires cache->lock. Returns 0 (room) or -ENOSPC; either way the blocks it evicted are chained
 * on *victims by hnext, for the caller to free or reuse. */
static int make_room(struct tfs_cache *c, enum tfs_block_origin origin, uint64_t need,
		     struct tfs_block **victims)
{
	*victims = NULL;
	/* Readahead is a guess: untouched readahead may hold at most half the budget, so the other
	 * half always belongs to blocks readers actually used. */
	if (origin == TFS_ORIGIN_PREFETCH && c->ra_unused + need > c->budget / 2)
		return -ENOSPC;
	if (c->bytes + need <= c->budget)
		return 0;
	if (origin == TFS_ORIGIN_WARM)
		return -ENOSPC; /* warm-up fills free budget only: it must not churn itself */
	while (c->bytes + need > c->budget) {
		struct tfs_list *last = tfs_list_last(&c->lru);
		struct tfs_block *tail = last ? tfs_list_entry(last, struct tfs_block, lru) : NULL, *v;

		if (!tail) /* all pinned: demand goes over */
			return origin == TFS_ORIGIN_DEMAND ? 0 : -ENOSPC;
		/* Nor may readahead push out other readahead or warm-up before it is used (thrashing). */
		if (origin == TFS_ORIGIN_PREFETCH && tail->unused_prefetch)
			return -ENOSPC;
		v = evict_tail(c);
		v->hnext = *victims;
		*victims = v;
	}
	return 0;
}

int tfs_cache_lookup(struct tfs_cache *c, uint32_t file, uint64_t index,
		     enum tfs_block_origin origin, struct tfs_block **out)
{
	return tfs_cache_lookup_range(c, file, index, origin, 0, c->bs, 0, c->bs, out);
}

int tfs_cache_lookup_range(struct tfs_cache *c, uint32_t file, uint64_t index,
			   enum tfs_block_origin origin, uint64_t need_lo, uint64_t need_hi,
			   uint64_t fill_lo, uint64_t fill_hi, struct tfs_block **out)
{
	struct tfs_block *b, *victims = NULL, *reuse = NULL, **pp;
	uint64_t need = block_charge(c, file, index), ext = block_extent(c, file, index);
	int rc;

	/* Clamp to the block's bytes; the fill covers the need and starts on a page (O_DIRECT). */
	need_hi = tfs_min_u64(need_hi, ext);
	need_lo = tfs_min_u64(need_lo, need_hi);
	fill_lo = tfs_min_u64(fill_lo, need_lo) & ~4095ull;
	fill_hi = tfs_min_u64(fill_hi > need_hi ? fill_hi : need_hi, ext);
	pthread_mutex_lock(&c->lock);
	b = hash_find(c, file, index);
	if (b) {
		if (origin != TFS_ORIGIN_DEMAND) {
			pthread_mutex_unlock(&c->lock);
			return -EEXIST;
		}
		if (b->state == TFS_BLOCK_READY && !b->growing && b->lo <= need_lo &&
		    need_hi <= b->hi) {
			c->hits++;
			rc = TFS_CACHE_HIT;
		} else if (b->state == TFS_BLOCK_READY && !b->growing) {
			/* The piece next to the window on the side that lacks bytes, the right first
			 * (fills start and end on pages or at the block's end, so both ends are). */
			c->misses++;
			if (need_hi > b->hi) {
				b->flo = b->hi;
				b->fhi = (uint32_t)fill_hi;
			} else {
				b->flo = (uint32_t)fill_lo;
				b->fhi = b->lo;
			}
			b->growing = 1;
			rc = TFS_CACHE_FILL;
		} else {
			c->misses++;
			rc = TFS_CACHE_LOADING;
		}
		if (b->refs == 0)
			lru_unlink(c, b);
		b->refs++;
		if (b->unused_prefetch && b->origin == TFS_ORIGIN_PREFETCH)
			c->ra_unused -= b->cap;
		b->unused_prefetch = 0;
		pthread_mutex_unlock(&c->lock);
		*out = b;
		return rc;
	}
	b = calloc(1, sizeof(*b));
	rc = b ? make_room(c, origin, need, &victims) : -ENOMEM;
	if (rc < 0) {
		pthread_mutex_unlock(&c->lock);
		free_chain(c, victims);
		free(b);
		return rc;
	}
	if (origin == TFS_ORIGIN_DEMAND)
		c->misses++;
	/* A victim's buffer of the very size is reused (streaming allocates nothing); the others are
	 * freed below, without the lock. */
	for (pp = &victims; *pp; pp = &(*pp)->hnext)
		if ((*pp)->cap == need && (*pp)->data) {
			reuse = *pp;
			*pp = reuse->hnext;
			b->data = reuse->data;
			b->buf_kind = reuse->buf_kind;
			free(reuse);
			break;
		}
	b->cap = need;
	b->file = file;
	b->index = index;
	b->flo = (uint32_t)fill_lo;
	b->fhi = (uint32_t)fill_hi;
	tfs_list_init(&b->lru);
	tfs_list_init(&b->rq);
	b->origin = origin;
	b->state = TFS_BLOCK_LOADING;
	b->refs = 1;
	b->unused_prefetch = origin != TFS_ORIGIN_DEMAND;
	if (origin == TFS_ORIGIN_PREFETCH)
		c->ra_unused += need;
	b->in_hash = 1;
	b->hnext = c->buckets[slot(c, file, index)];
	c->buckets[slot(c, file, index)] = b;
	c->n_blocks++;
	c->bytes += need;
	if (c->bytes > c->peak)
		c->peak = c->bytes;
	pthread_mutex_unlock(&c->lock);
	free_chain(c, victims);
	*out = b;
	return TFS_CACHE_FILL;
}

int tfs_cache_fill_begin(struct tfs_cache *c, struct tfs_block *b)
{
	if (!b->data)
		b->data = buf_alloc(c, b->cap, &b->buf_kind);
	return b->data ? 0 : -ENOMEM;
}

void tfs_cache_hold(struct tfs_cache *c, struct tfs_block *b)
{
	pthread_mutex_lock(&c->lock);
	b->refs++;
	pthread_mutex_unlock(&c->lock);
}

void tfs_cache_fill_done(struct tfs_cache *c, struct tfs_block *b, long rc)
{
	pthread_mutex_lock(&c->lock);
	if (rc >= 0 && b->growing) {
		uint32_t end = b->flo + (uint32_t)rc;

		if (b->flo < b->lo)
			b->lo = b->flo;
		if (end > b->hi)
			b->hi = end;
		b->growing = 0;
	} else if (rc >= 0) {
		b->lo = b->flo;
		b->hi = b->flo + (uint32_t)rc;
		b->state = TFS_BLOCK_READY;
		if (b->origin != TFS_ORIGIN_DEMAND)
			c->prefetched += (uint64_t)rc;
	} else {
		/* A growing block keeps its window for its holders, but is found no more. */
		if (!b->growing)
			b->state = TFS_BLOCK_FAILED;
		b->growing = 0;
		b->err = (int)rc;
		if (b->in_hash) /* not cached: the next lookup reads again */
			hash_remove(c, b);
	}
	pthread_cond_broadcast(&c->filled);
	pthread_mutex_unlock(&c->lock);
}

int tfs_cache_wait(struct tfs_cache *c, struct tfs_block *b)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	while (b->state == TFS_BLOCK_LOADING || b->growing)
		pthread_cond_wait(&c->filled, &c->lock);
	rc = b->err; /* 0 unless its first fill, or a fill growing it, failed */
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int tfs_cache_holds(struct tfs_cache *c, struct tfs_block *b, uint64_t lo, uint64_t hi)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = b->state == TFS_BLOCK_READY && b->lo <= lo && hi <= b->hi;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Bits of the 64 segments that bytes [off, off+len) of a block overlap (none when len is 0). */
static uint64_t seg_bits(const struct tfs_cache *c, uint64_t off, uint64_t len)
{
	unsigned shift = c->seg_shift, a, z;

	if (len == 0)
		return 0;
	a = (unsigned)(off >> shift);
	z = (unsigned)((off + len - 1) >> shift);
	if (a > 63)
		return 0;
	return (z >= 63 ? ~0ull : (1ull << (z + 1)) - 1) & ~((1ull << a) - 1);
}

/* Drops one reference after demand reads marked `bits` (0 for other holders). */
static void release(struct tfs_cache *c, struct tfs_block *b, uint64_t bits)
{
	struct tfs_block *dead = NULL;

	pthread_mutex_lock(&c->lock);
	b->touched |= bits;
	if (--b->refs == 0) {
		if (!b->in_hash) {
			forget_block(c, b);
			dead = b;
		} else {
			uint64_t all = seg_bits(c, b->lo, b->hi - b->lo);

			if (all && (b->touched & all) == all) {
				b->stamp = 0;   /* consumed: the next victim */
				tfs_list_push_back(&c->lru, &b->lru);
				c->n_lru++;
			} else {
				b->stamp = ++c->clock;
				lru_push_head(c, b);
			}
			while (c->bytes > c->budget && !tfs_list_empty(&c->lru)) {
				struct tfs_block *v = evict_tail(c);
				v->hnext = dead;
				dead = v;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	free_chain(c, dead);
}

void tfs_cache_release(struct tfs_cache *c, struct tfs_block *b)
{
	release(c, b, 0);
}

void tfs_cache_release_read(struct tfs_cache *c, struct tfs_block *b, uint64_t off, uint64_t len)
{
	release(c, b, seg_bits(c, off, len));
}

void tfs_cache_invalidate_file(struct tfs_cache *c, uint32_t file)
{
	struct tfs_block *dead = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i <= c->mask; i++) {
		struct tfs_block **pp = &c->buckets[i];
		while (*pp) {
			struct tfs_block *b = *pp;
			if (b->file != file) {
				pp = &b->hnext;
				continue;
			}
			*pp = b->hnext;
			b->hnext = NULL;
			b->in_hash = 0;
			if (b->refs == 0) { /* READY and idle: free now; pinned ones die on release */
				lru_unlink(c, b);
				forget_block(c, b);
				b->hnext = dead;
				dead = b;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	free_chain(c, dead);
}

uint64_t tfs_cache_readahead_unused(struct tfs_cache *c)
{
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	n = c->ra_unused;
	pthread_mutex_unlock(&c->lock);
	return n;
}

int tfs_cache_resident(struct tfs_cache *c, uint32_t file, uint64_t index)
{
	struct tfs_block *b;
	int r;

	pthread_mutex_lock(&c->lock);
	b = hash_find(c, file, index);
	r = b && b->state == TFS_BLOCK_READY;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void tfs_cache_stats(struct tfs_cache *c, struct tfs_cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	out->hits = c->hits;
	out->misses = c->misses;
	out->bytes_prefetched = c->prefetched;
	out->bytes_prefetched_unused = c->prefetched_unused;
	out->evictions = c->evictions;
	out->bytes = c->bytes;
	out->peak_bytes = c->peak;
	out->budget = c->budget;
	out->block_size = c->bs;
	out->blocks = c->n_blocks;
	out->pinned_blocks = c->n_blocks - c->n_lru;
	pthread_mutex_unlock(&c->lock);
}

int tfs_cache_check(struct tfs_cache *c)
{
	uint64_t in_hash = 0, in_lru = 0, hashed_bytes = 0;
	int ok = 1;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i <= c->mask; i++)
		for (struct tfs_block *b = c->buckets[i]; b; b = b->hnext) {
			in_hash++;
			hashed_bytes += b->cap;
			ok &= b->cap >= 4096 && b->cap <= c->bs && b->cap % 4096 == 0;
			ok &= slot(c, b->file, b->index) == i && b->in_hash &&
			      b->state != TFS_BLOCK_FAILED;
			ok &= tfs_list_linked(&b->lru) == (b->refs == 0);
			ok &= b->state != TFS_BLOCK_READY || (b->lo <= b->hi && b->hi <= b->cap);
		}
	for (struct tfs_list *l = c->lru.next; l != &c->lru; l = l->next) {
		struct tfs_block *b = tfs_list_entry(l, struct tfs_block, lru);
		in_lru++;
		ok &= b->refs == 0 && b->state == TFS_BLOCK_READY && b->in_hash;
		ok &= l->next == &c->lru ||
		      b->stamp >= tfs_list_entry(l->next, struct tfs_block, lru)->stamp;
	}
	ok &= in_lru == c->n_lru && in_hash <= c->n_blocks;
	ok &= hashed_bytes <= c->bytes && c->bytes <= c->n_blocks * c->bs;
	ok &= c->bytes <= c->budget || c->n_lru == 0;
	pthread_mutex_unlock(&c->lock);
	return ok ? 0 : -EFAULT;
}
