/*
 * tensorfs.h - public API of libtensorfs: open a checkpoint cheaply, read its tensors fast.
 *
 * Data flow (see README and docs/DESIGN.md):
 *   checkpoint files -> catalog (headers only) -> engine (reader threads + block cache) -> callers
 *
 * Conventions, once for the whole header:
 *  - Functions that can fail return 0 (or a byte count) on success and a negative errno on failure;
 *    when a `struct tfs_error *` is passed (it may be NULL) it receives one line naming the file and
 *    the problem. On failure nothing is returned through out-parameters and nothing is leaked.
 *  - Handles are opaque. Pointers returned by getters are owned by the handle they came from and stay
 *    valid until that handle is closed. `_close` functions accept NULL and cannot fail.
 *  - All handles are safe to read from many threads at once after they are opened.
 */
#ifndef TENSORFS_H
#define TENSORFS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "dlpack/dlpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------------------ */

#define TFS_ERR_MAX 512

/* A caller-supplied message buffer; msg is always NUL-terminated after a failed call. */
struct tfs_error {
	char msg[TFS_ERR_MAX];
};

/* ---- dtypes ------------------------------------------------------------------------------------ */

/* Every dtype of the safetensors spec, in the order the spec lists them. */
enum tfs_dtype {
	TFS_DTYPE_BOOL,
	TFS_DTYPE_F4,
	TFS_DTYPE_F6_E2M3,
	TFS_DTYPE_F6_E3M2,
	TFS_DTYPE_U8,
	TFS_DTYPE_I8,
	TFS_DTYPE_F8_E5M2,
	TFS_DTYPE_F8_E4M3,
	TFS_DTYPE_F8_E8M0,
	TFS_DTYPE_I16,
	TFS_DTYPE_U16,
	TFS_DTYPE_F16,
	TFS_DTYPE_BF16,
	TFS_DTYPE_I32,
	TFS_DTYPE_U32,
	TFS_DTYPE_F32,
	TFS_DTYPE_C64,
	TFS_DTYPE_F64,
	TFS_DTYPE_I64,
	TFS_DTYPE_U64,
	/* ggml's block-quantized types (GGUF files only): each block of `elems` values (the fastest
	 * dimension's) is `bytes` opaque bytes; tfs_dtype_block() gives the geometry. */
	TFS_DTYPE_Q4_0,
	TFS_DTYPE_Q4_1,
	TFS_DTYPE_Q5_0,
	TFS_DTYPE_Q5_1,
	TFS_DTYPE_Q8_0,
	TFS_DTYPE_Q8_1,
	TFS_DTYPE_Q2_K,
	TFS_DTYPE_Q3_K,
	TFS_DTYPE_Q4_K,
	TFS_DTYPE_Q5_K,
	TFS_DTYPE_Q6_K,
	TFS_DTYPE_Q8_K,
	TFS_DTYPE_IQ2_XXS,
	TFS_DTYPE_IQ2_XS,
	TFS_DTYPE_IQ3_XXS,
	TFS_DTYPE_IQ1_S,
	TFS_DTYPE_IQ4_NL,
	TFS_DTYPE_IQ3_S,
	TFS_DTYPE_IQ2_S,
	TFS_DTYPE_IQ4_XS,
	TFS_DTYPE_IQ1_M,
	TFS_DTYPE_TQ1_0,
	TFS_DTYPE_TQ2_0,
	TFS_DTYPE_MXFP4,
	TFS_DTYPE_NVFP4,
	TFS_DTYPE_Q1_0,
	TFS_DTYPE_COUNT
};

/* The spec's spelling ("BF16"); "?" for an out-of-range value. */
const char *tfs_dtype_name(enum tfs_dtype dt);
/* Bits per element (4 for F4, 6 for F6_*, 8..64 for the rest); 0 for a block-quantized dtype and
 * for an out-of-range value. */
unsigned tfs_dtype_bits(enum tfs_dtype dt);
/* Parses the safetensors spec's spelling (the ggml block types are not safetensors dtypes);
 * -EINVAL for an unknown name. */
int tfs_dtype_parse(const char *name, enum tfs_dtype *out);
/* For a ggml block-quantized dtype: returns 1 with the values per block in *elems and the bytes per
 * block in *bytes (Q4_K: 256, 144). Returns 0 and leaves them alone for any other dtype. */
int tfs_dtype_block(enum tfs_dtype dt, uint32_t *elems, uint32_t *bytes);

/* ---- catalog: what a checkpoint holds ------------------------------------------------------------ */

struct tfs_catalog;

/* One file of the checkpoint folder: a shard, or any other file (config.json, tokenizer, index). */
struct tfs_file {
	const char *path;       /* path to open (as given + relative part) */
	const char *rel;        /* path relative to the checkpoint root, '/'-separated ("unet/config.json") */
	uint64_t size;          /* bytes, from stat at open */
	int64_t mtime_ns;       /* st_mtim at open; the engine refuses to serve a file that changed */
	uint64_t dev, ino;      /* identity at open, same purpose */
	uint32_t mode;          /* permission bits at open (st_mode & 07777): the mount shows & 0444 */
	int is_shard;           /* 1 for a checkpoint file (any format) whose header was parsed */
	uint64_t data_start;    /* shards: offset of the first byte after the header (the data region) */
	size_t n_meta;          /* shards: the __metadata__ map, in header order */
	const char *const *meta_keys;
	const char *const *meta_vals;
};

/* One tensor. `offset` is absolute within the file, so the tensor is bytes [offset, offset+length). */
struct tfs_tensor {
	const char *key;        /* unique: "name", or "component/name" in a diffusers folder */
	const char *name;       /* as written in the header: "model.layers.0.mlp.up_proj.weight" */
	const char *component;  /* diffusers component ("unet"), or "" */
	enum tfs_dtype dtype;
	uint32_t ndim;
	const uint64_t *shape;  /* ndim entries; ndim == 0 is a scalar */
	uint32_t file;          /* index for tfs_catalog_file() */
	uint64_t offset;
	uint64_t length;
};

/*
 * Opens a checkpoint: a *.safetensors file; a folder holding one, or a sharded one with
 * model.safetensors.index.json (or diffusion_pytorch_model.safetensors.index.json); a diffusers
 * folder with model_index.json; a GGUF file (v2/v3), or the first file of a GGUF split set
 * (PREFIX-00001-of-0000N.gguf, which brings the rest). Reads headers only, validates them strictly
 * (docs/FORMATS.md).
 * On success *out is owned by the caller: release it with tfs_catalog_close().
 */
int tfs_catalog_open(const char *path, struct tfs_catalog **out, struct tfs_error *err);
void tfs_catalog_close(struct tfs_catalog *cat);

/* "safetensors", "sharded", "diffusers", "gguf" (one GGUF file) or "gguf-split" (a split set). */
const char *tfs_catalog_layout(const struct tfs_catalog *cat);
/* The folder that holds the checkpoint (the file's folder for a single file). */
const char *tfs_catalog_root(const struct tfs_catalog *cat);

/* Tensors, sorted by (file, offset): the order of the bytes on disk. */
size_t tfs_catalog_tensor_count(const struct tfs_catalog *cat);
const struct tfs_tensor *tfs_catalog_tensor(const struct tfs_catalog *cat, size_t i);
/* Looks a tensor up by key; NULL when absent. O(log n). */
const struct tfs_tensor *tfs_catalog_find(const struct tfs_catalog *cat, const char *key);
/* Sum of all tensor lengths. */
uint64_t tfs_catalog_tensor_bytes(const struct tfs_catalog *cat);

/* Files: every regular file under the root (dot-files skipped), shards first in index order. */
size_t tfs_catalog_file_count(const struct tfs_catalog *cat);
const struct tfs_file *tfs_catalog_file(const struct tfs_catalog *cat, size_t i);

/*
 * The key/value metadata of every checkpoint file as one JSON object text, keyed by the file's
 * relative path: {"model.gguf": {"general.architecture": "llama", "tokenizer.ggml.tokens": [...]}}.
 * GGUF values keep their types (numbers, bools, arrays); safetensors' __metadata__ is a map of
 * strings. Owned by the catalog; built at open.
 */
const char *tfs_catalog_metadata_json(const struct tfs_catalog *cat);

/* Non-fatal findings (e.g. an index total_size that disagrees with the shards), one per line; may be "". */
const char *tfs_catalog_warnings(const struct tfs_catalog *cat);

/* ---- engine: every byte read from a checkpoint goes through here ------------------------------ */

struct tfs_engine;
struct tfs_stream;

/* Loading strategies: when bytes move from disk into the cache. */
enum tfs_strategy {
	TFS_STRATEGY_LAZY,      /* read on first touch; sequential streams keep a modest readahead
	                         * (1 block growing to readahead/4), random access none */
	TFS_STRATEGY_EAGER,     /* warm the whole checkpoint (as much as the budget holds) at open,
	                         * in the background, shard order; plus streaming's readahead */
	TFS_STRATEGY_STREAMING, /* lazy plus aggressive readahead in file order (readahead/4 growing
	                         * to readahead) */
	TFS_STRATEGY_AUTO       /* eager in the learned order when the profile folder has one;
	                         * else eager when every shard fits in the cache budget (streaming
	                         * once the first reads skip around a cold checkpoint), else
	                         * streaming; stats say which and why */
};
const char *tfs_strategy_name(enum tfs_strategy s);
int tfs_strategy_parse(const char *name, enum tfs_strategy *out);

struct tfs_engine_opts {
	unsigned threads;           /* reader threads, 1..1024; 0 = max(4, 2 x cores), at most 64 */
	uint64_t block_size;        /* power of two, 4 KiB..1 GiB; 0 = 2 MiB */
	uint64_t cache_bytes;       /* LRU byte budget, >= block_size, rounded down to whole blocks;
	                             * 0 = a quarter of RAM, at most 32 GiB */
	uint64_t readahead_bytes;   /* largest prefetch window of a sequential stream, <= 4 GiB (and
	                             * never more than a quarter of the cache); 0 = 16 MiB */
	enum tfs_strategy strategy;
	int progress_fd;            /* eager warm-up writes a progress line here; -1 = silent */
	int buffered_io;            /* 1: read blocks through the page cache; 0 (default): O_DIRECT
				     * where the filesystem allows, so the disk DMAs into the cache */
	const char *profile_path;   /* learned warm-up order: the file the engine reads at open (when
				     * it matches this checkpoint; eager warms those blocks first) and
				     * rewrites at close with the order its readers asked; NULL = off.
				     * Copied at open: the caller's string may go afterwards. */
};

/* Fills *o with the defaults (all zero meaning "pick", strategy auto, progress_fd -1). */
void tfs_engine_opts_init(struct tfs_engine_opts *o);

/*
 * Opens the engine over every file of `cat` (which must outlive the engine). Validates the options
 * (-EINVAL with a message naming the option). On success *out is owned by the caller:
 * release with tfs_engine_close(), which stops and joins every thread it started.
 */
int tfs_engine_open(const struct tfs_catalog *cat, const struct tfs_engine_opts *o,
		    struct tfs_engine **out, struct tfs_error *err);
void tfs_engine_close(struct tfs_engine *e);

/*
 * Watches the checkpoint's files for changes as they happen (inotify on their folders, and the
 * mount table), instead of finding out at the next read. When a file changes (written, truncated,
 * replaced, deleted, mounted over), the engine refuses it from then on, as its per-read checks
 * would, and calls fn(ctx, file) once for that file, on the watch thread, so a front end can drop
 * copies of its bytes it handed out (a mount: the kernel's page cache). While it runs, reads trust
 * it and no longer stat their file each time (a backstop still does, at most once a second per
 * file). fn may be NULL. Call at most once. 0, or -errno with a message (no inotify, too many
 * folders): the engine then keeps its per-read checks only.
 */
typedef void (*tfs_change_fn)(void *ctx, uint32_t file);
int tfs_engine_watch(struct tfs_engine *e, tfs_change_fn fn, void *ctx, struct tfs_error *err);
/* Stops the watch: fn is not running and never called again once this returns. Safe without a
 * watch and more than once; tfs_engine_close calls it. Cannot fail. */
void tfs_engine_unwatch(struct tfs_engine *e);

/*
 * A stream is one reader's access pattern (one per open file handle): sequential reads through it
 * trigger readahead, random ones do not. Owned by the caller; close before the engine.
 * tfs_stream_open returns NULL when out of memory.
 */
struct tfs_stream *tfs_stream_open(struct tfs_engine *e);
void tfs_stream_close(struct tfs_stream *s);

/*
 * Tells a stream the range of `file` its reader is after (a FUSE handle: one tensor). Readahead
 * then stays inside [start, end), unless the stream's first read is sequential with the previous
 * read of the file (it starts in the block where that one ended, or the next: a reader walking the
 * shard in file order), when it runs on into the following bytes. Without an extent, readahead is bounded by the file only. Cannot fail.
 */
void tfs_stream_set_extent(struct tfs_stream *s, uint32_t file, uint64_t start, uint64_t end);

/*
 * Reads up to len bytes of catalog file `file` starting at byte `off` into buf. Returns the bytes
 * copied (fewer than len only at the end of the file, 0 at or past it) or a negative errno:
 * -EIO when the disk failed or the file no longer matches what the catalog opened, -EINVAL for a
 * bad file index. `s` may be NULL (no readahead). Never returns bytes that differ from the file.
 */
ssize_t tfs_engine_read(struct tfs_engine *e, struct tfs_stream *s, uint32_t file, uint64_t off,
			void *buf, size_t len, struct tfs_error *err);

/*
 * For front ends that can splice (FUSE): when [off, off+len) of `file` (clamped to the file) is
 * entirely in the kernel's page cache and not in the engine's cache, returns its length and sets
 * *fd to a descriptor of the file to splice from at offset `off`, held open (descriptors are
 * recycled: a folder may hold more files than a process may keep open) until the caller calls
 * tfs_engine_hot_done(e, file); do not close it. Returns 0 when the caller should use
 * tfs_engine_read() instead (nothing held); -EIO when the file changed since it was opened.
 * Counted in stats as served, not read from disk.
 */
ssize_t tfs_engine_read_hot(struct tfs_engine *e, uint32_t file, uint64_t off, size_t len, int *fd,
			    struct tfs_error *err);
/* Ends the use of the descriptor a positive tfs_engine_read_hot or tfs_engine_whole_hot gave.
 * Cannot fail. */
void tfs_engine_hot_done(struct tfs_engine *e, uint32_t file);
/*
 * For front ends that hand a whole file to the kernel (FUSE passthrough): when all of `file` is
 * in the kernel's page cache and it still matches what the catalog opened, returns 1 and sets *fd
 * to a descriptor of it, held until tfs_engine_hot_done(e, file); do not close it (dup it to keep
 * it). Returns 0 when it is not all resident or not a local file (nothing held), -EIO when it
 * changed since it was opened, -EINVAL for a bad file index. Not counted as a read in stats.
 */
int tfs_engine_whole_hot(struct tfs_engine *e, uint32_t file, int *fd, struct tfs_error *err);

/* A pinned piece of a read: `len` bytes at `ptr`, valid until released. `blk` is the engine's. */
struct tfs_block;
struct tfs_span {
	const void *ptr;
	size_t len;
	struct tfs_block *blk;
};

/*
 * For front ends that reply without copying (FUSE): like tfs_engine_read() (same readahead, stats
 * and errors) but pins the cache blocks covering [off, off+len) and describes them in
 * spans[0..*n_spans) instead of copying. Returns the bytes covered (less than len only at the end of
 * the file), or -E2BIG with no side effect when more than max_spans blocks, or more than 64, would
 * be needed (read with tfs_engine_read() instead). Release with tfs_engine_release_spans() once the bytes are
 * consumed; on error nothing stays pinned.
 */
ssize_t tfs_engine_read_pinned(struct tfs_engine *e, struct tfs_stream *s, uint32_t file,
			       uint64_t off, size_t len, struct tfs_span *spans, unsigned max_spans,
			       unsigned *n_spans, struct tfs_error *err);
void tfs_engine_release_spans(struct tfs_engine *e, struct tfs_span *spans, unsigned n);

/* Counters, read without stopping readers (each field is individually consistent). */
struct tfs_stats {
	uint64_t reads;                   /* tfs_engine_read calls */
	uint64_t bytes_served;            /* bytes those calls returned */
	uint64_t bytes_from_disk;         /* bytes read from the checkpoint's files: pread into the
					   * cache, plus bytes_hot */
	uint64_t cache_hits;              /* block lookups found resident */
	uint64_t cache_misses;            /* block lookups that had to read (or wait for a read) */
	uint64_t bytes_prefetched;        /* bytes read by readahead or warm-up */
	uint64_t bytes_prefetched_unused; /* of those, evicted before anyone read them */
	uint64_t evictions;               /* blocks evicted */
	uint64_t cache_bytes;             /* resident now */
	uint64_t cache_peak_bytes;        /* highest resident */
	uint64_t cache_budget;            /* --cache-size */
	uint64_t block_size;
	uint64_t readahead_bytes;         /* largest readahead window in effect (0: none) */
	unsigned threads;
	uint64_t warm_done_bytes;         /* eager warm-up progress */
	uint64_t warm_total_bytes;        /* 0 when no warm-up runs */
	const char *pinning;              /* "cuda", "mlock", or "none (reason)" */
	enum tfs_strategy strategy;       /* the effective one (after auto) */
	const char *strategy_reason;      /* why auto picked it, or "requested" */
	uint64_t errors;                  /* reads that returned an error */
	uint64_t bytes_hot;               /* of bytes_from_disk, spliced from the kernel page cache
					   * by tfs_engine_read_hot (no copy into the cache) */
	uint64_t bytes_resident;          /* of bytes_from_disk, blocks read buffered because the
					   * kernel page cache held them (O_DIRECT skipped) */
	uint64_t warm_skipped_bytes;      /* of warm_done_bytes, skipped: in the page cache already */
	const char *huge_pages;           /* cache blocks in huge pages: "madvise" or "off (why)" */
	const char *profile;              /* learned warm-up order: "off", "none yet (PATH)",
					   * "loaded N blocks (PATH)" or "ignored: why (PATH)" */
};
void tfs_engine_stats(const struct tfs_engine *e, struct tfs_stats *out);

/* Writes st as one JSON object into buf (NUL-terminated); returns its length or -ENOSPC. */
int tfs_stats_json(const struct tfs_stats *st, char *buf, size_t cap);

/* ---- device placement: load tensors into GPU or host memory ------------------------------------ */

/*
 * Where a tensor goes. TFS_DEVICE_DISK means "stay on disk": the tensor is not loaded.
 * Spellings (tfs_device_parse): "cpu", "cuda" (= cuda:0), "cuda:N", a bare "N" (= cuda:N), "disk".
 */
enum tfs_device_type {
	TFS_DEVICE_DISK,
	TFS_DEVICE_CPU,
	TFS_DEVICE_CUDA
};
struct tfs_device {
	enum tfs_device_type type;
	int index;              /* GPU index for TFS_DEVICE_CUDA, 0 otherwise */
};

/* Parses a device spelling; -EINVAL naming the string when unknown or a negative/garbled index. */
int tfs_device_parse(const char *s, struct tfs_device *out, struct tfs_error *err);
/* Writes "cpu", "cuda:N" or "disk" into buf (cap >= 16 always suffices); returns buf. */
const char *tfs_device_name(struct tfs_device d, char *buf, size_t cap);
/*
 * Number of CUDA devices usable by this process. The first call (or the first load naming a GPU)
 * loads the CUDA plugin, libtensorfs-cuda.so, from the library's folder (or $TENSORFS_CUDA_PLUGIN)
 * and with it the CUDA runtime; nothing else in the library does. -ENODEV with "cuda: CUDA support
 * not available: ..." when the plugin is missing (built without nvcc) or cannot be loaded (the
 * message says why), or "cuda: no CUDA device (cudaGetDeviceCount: ...)" when the runtime finds none.
 */
int tfs_cuda_device_count(struct tfs_error *err);

/*
 * A selection says which tensors to load and where. Rules, applied to each tensor's `key`:
 *  1. Globs: with at least one glob added, a tensor is a candidate only when fnmatch(glob, key, 0)
 *     matches for some glob ('*' also crosses '.' and '/'). With no glob, every tensor is one.
 *  2. Device map (accelerate/diffusers `device_map`): a JSON object of module name -> device, whose
 *     values are an integer GPU index N (cuda:N), "cuda:N", "cuda", "cpu" or "disk".
 *     A map key K matches a tensor key T when T == K, or T starts with K followed by '.' or '/'
 *     ("model.layers.1" matches "model.layers.1.mlp.up_proj.weight" but not
 *     "model.layers.10.mlp.up_proj.weight"; "unet" matches the diffusers key "unet/conv_in.weight").
 *     The key "" matches every tensor. Among the keys that match, the longest wins.
 *     A candidate matched by no key is NOT loaded (add "": DEVICE to send the rest somewhere);
 *     "disk" means not loaded; "cpu" means host memory, also when the load's default is a GPU.
 *  3. Without a map, every candidate goes to the default device of the load (tfs_load_opts.device).
 * A NULL selection means "every tensor, to the default device".
 */
struct tfs_selection;

/* Creates an empty selection (every tensor, default device). Owned by the caller: tfs_selection_free. */
int tfs_selection_new(struct tfs_selection **out, struct tfs_error *err);
void tfs_selection_free(struct tfs_selection *sel);
/* Adds a glob (copied). -EINVAL for an empty glob. */
int tfs_selection_add_glob(struct tfs_selection *sel, const char *glob, struct tfs_error *err);
/*
 * Sets the device map from a JSON file, or from JSON text (`origin` names it in messages, e.g.
 * "device_map"). Replaces an earlier map. Errors are -EINVAL (-errno for an unreadable file) and
 * name the file and the key: not JSON, not an object, duplicate key, a value of the wrong JSON type,
 * an unknown device string, a negative index. GPU indices are checked against the devices present
 * when loading (tfs_load). On error the selection's map is unchanged.
 */
int tfs_selection_load_map(struct tfs_selection *sel, const char *path, struct tfs_error *err);
int tfs_selection_set_map_json(struct tfs_selection *sel, const char *json, const char *origin,
			       struct tfs_error *err);
/*
 * Where the selection puts the tensor with this key: returns 1 and fills *out when it is loaded
 * (to dflt when the selection has no map), 0 when it is not loaded. `sel` may be NULL.
 */
int tfs_selection_place(const struct tfs_selection *sel, const char *key, struct tfs_device dflt,
			struct tfs_device *out);

struct tfs_load_opts {
	struct tfs_device device;   /* default target (rule 3): cpu or cuda:N; default cpu */
	unsigned threads;           /* reader threads calling tfs_engine_read; 0 = 4 */
	unsigned staging_buffers;   /* staging ring size (>= 2); 0 = 8 */
	uint64_t staging_bytes;     /* bytes per staging buffer (>= 4 KiB); 0 = 8 MiB, or for a URL
				     * checkpoint the engine's block size (one range GET a chunk) */
	unsigned streams;           /* CUDA streams per device; 0 = 4 */
	int per_tensor;             /* 1: one allocation per tensor; 0: one arena per device */
	int staging_only;           /* 1: always read into the staging ring; 0: copy straight out of
				     * the engine's cache blocks where that saves a copy (host
				     * targets, and GPUs when the cache is CUDA-pinned) */
	int through_cache;          /* 1: every byte through the engine's cache; 0: bytes for host
				     * targets that the page cache holds, or that a remote source
				     * sends, are read straight into their tensor (a tensor piece
				     * filling a whole chunk) or the staging ring, past the cache */
};
/* Fills *o with the defaults (all zero, device cpu). */
void tfs_load_opts_init(struct tfs_load_opts *o);

/* One loaded tensor, as tfs_load_get() shows it. */
struct tfs_loaded {
	const char *key;             /* owned by the result */
	enum tfs_dtype dtype;
	uint32_t ndim;
	const uint64_t *shape;       /* owned by the result */
	struct tfs_device device;    /* cpu or cuda:N */
	void *data;                  /* host address (cpu) or device address (cuda) of byte 0 */
	uint64_t length;             /* bytes */
	uint32_t file;               /* where the bytes came from: catalog file index and offset */
	uint64_t offset;
};

/* Per-device total of a load. */
struct tfs_load_device_total {
	struct tfs_device device;
	uint64_t tensors, bytes;
};

/* What a load did. Counters from the engine are the difference across the load. */
struct tfs_load_report {
	uint64_t tensors;            /* loaded */
	uint64_t bytes;              /* loaded bytes */
	uint64_t skipped;            /* catalog tensors not loaded (unselected, unmapped or "disk") */
	double setup_seconds;        /* plan, allocations, CUDA context and streams */
	double seconds;              /* moving bytes: first read to last copy done */
	double gbps;                 /* bytes / seconds / 1e9 */
	uint64_t bytes_from_disk;    /* engine stats delta */
	uint64_t cache_hits, cache_misses;
	unsigned threads, staging_buffers, streams;
	uint64_t staging_bytes;
	const char *staging;         /* staging ring memory: "cuda-pinned" or "host" (static string) */
	uint64_t bytes_direct;       /* bytes copied straight out of the engine's cache blocks */
	uint64_t bytes_uncached;     /* bytes read past the engine's cache (see through_cache) */
	size_t n_devices;            /* entries in devices[], cpu first then cuda in index order */
	const struct tfs_load_device_total *devices; /* owned by the result */
};

struct tfs_load_result;

/*
 * Loads the tensors `sel` selects (NULL: all) of `cat` through engine `e` (opened over `cat`) into
 * host memory or CUDA device memory. Only the selected tensors' bytes are read, all through the
 * engine; reader threads fill a ring of slots - pinned cache blocks, or staging buffers (pinned
 * when a GPU is involved) - while the calling thread copies them to their destination
 * (cudaMemcpyAsync on several streams), so disk reads and copies overlap. Pass the engine no
 * eager strategy if only part of the checkpoint is wanted: the loader reads nothing else itself.
 * Errors: -EINVAL bad options; -ENODEV "cuda:N: CUDA support not available: ..." (no CUDA plugin,
 * or it cannot be loaded: see tfs_cuda_device_count), "cuda:N: no CUDA device (...)", or a map key naming a GPU beyond those present (message names the map and
 * the key); -ENOMEM (host or device allocation, naming the device and size); -EIO from the engine.
 * On success *out is owned by the caller: release with tfs_load_free(). On failure everything
 * allocated is released.
 */
int tfs_load(const struct tfs_catalog *cat, struct tfs_engine *e, const struct tfs_selection *sel,
	     const struct tfs_load_opts *o, struct tfs_load_result **out, struct tfs_error *err);

/* Loaded tensors, in catalog order (file, offset). tfs_load_get returns NULL past the end. */
size_t tfs_load_count(const struct tfs_load_result *r);
const struct tfs_loaded *tfs_load_get(const struct tfs_load_result *r, size_t i);
/* Index of the tensor with this key, or -ENOENT. */
ssize_t tfs_load_find(const struct tfs_load_result *r, const char *key);
const struct tfs_load_report *tfs_load_report(const struct tfs_load_result *r);

/*
 * Ownership of tensor memory. Memory is allocated in arenas (one per device, or one per tensor
 * with opts.per_tensor); an arena is freed when the result and every DLManagedTensor in it are gone.
 *  - Each loaded tensor has one DLManagedTensor (DLPack v1.0, include/dlpack/dlpack.h), held by
 *    the result until taken. tfs_load_take() hands it to the caller, who must call its
 *    `deleter(self)` exactly once (a DLPack consumer such as torch.utils.dlpack.from_dlpack does
 *    that when its tensor dies). A second take of the same tensor returns NULL.
 *  - tfs_load_free() deletes the DLManagedTensors not taken and drops the result's hold; taken
 *    ones stay valid, with their memory, until their deleters run (after the result is freed, from
 *    any thread; the catalog and engine may be closed before).
 *  - tfs_loaded.data stays valid while the result lives.
 * DLPack fields: device {kDLCPU, 0} or {kDLCUDA, N}; byte_offset 0, data 256-byte aligned;
 * shape and compact row-major strides (in elements) owned by the DLManagedTensor; dtype:
 *   BOOL {kDLBool,8}; U8..U64 {kDLUInt,n}; I8..I64 {kDLInt,n}; F16/F32/F64 {kDLFloat,n};
 *   BF16 {kDLBfloat,16}; C64 {kDLComplex,64}; F8_E5M2/F8_E4M3/F8_E8M0 {kDLUInt,8} (DLPack v1.0
 *   has no float8 codes: the raw bytes, to be viewed as float8 by the consumer);
 *   F4 {kDLUInt,4} and F6_* {kDLUInt,6}: packed sub-byte codes most consumers refuse;
 *   ggml block types (Q4_K, ...) {kDLUInt,8} with shape [n_blocks, block_bytes] (tfs_loaded keeps
 *   the logical shape and the dtype, so the ggml type is known).
 */
DLManagedTensor *tfs_load_take(struct tfs_load_result *r, size_t i);
void tfs_load_free(struct tfs_load_result *r);

/*
 * Checks every loaded tensor: copies it back (from the GPU when needed) and
 * compares its XXH3-64 with that of the same bytes read from the file through the engine.
 * Returns 0, or -EIO naming the first tensor and its device whose hashes differ.
 */
int tfs_load_verify(struct tfs_engine *e, const struct tfs_load_result *r, struct tfs_error *err);

/* Prints the report, a few human-readable lines. */
void tfs_load_report_print(const struct tfs_load_report *rep, FILE *f);
/* Writes the report as one JSON object into buf; returns its length or -ENOSPC. */
int tfs_load_report_json(const struct tfs_load_report *rep, char *buf, size_t cap);

/* ---- small helpers for front ends -------------------------------------------------------------- */

/* Parses a byte size: "4096", "512K", "512M", "8G", "1T" (powers of 1024; "MiB"/"MB" accepted as M).
 * -EINVAL for anything else or an overflow. */
int tfs_parse_size(const char *s, uint64_t *out);

/* ---- the ABI itself ---------------------------------------------------------------------------- */

/*
 * sizeof(struct NAME) in this library, NAME without "struct " ("tfs_engine_opts", "tfs_loaded",
 * ... every struct this header defines); 0 for a name it does not know. Bindings that mirror these
 * structs (python/tensorfs) compare their sizes at load time and refuse a library that differs.
 */
size_t tfs_struct_size(const char *name);

#ifdef __cplusplus
}
#endif
#endif
