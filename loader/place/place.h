/*
 * place.h - internals of device placement (the "device" box of docs/DESIGN.md's data flow).
 *
 * Who does what:
 *   select.c         tfs_selection_*: globs and the device map; which tensor goes where
 *   result.c         device names, arenas, the load result with its DLPack tensors, the report,
 *                    tfs_load_verify
 *   plan.c           tfs_load, first half: options, GPU checks, arenas, chunks
 *   load.c           tfs_load, second half: staging ring, reader threads, the copy loop
 *   backend.h        the backend seam: one table of functions per kind of memory
 *   backend.c        finds a backend; loads the CUDA plugin on first CUDA use
 *   backend_host.c   the host backend: aligned allocations and the "copy" that is a memcpy
 *   backend_cuda.cu  the CUDA backend, built into the plugin libtensorfs-cuda.so when nvcc is found
 * Every byte comes from tfs_engine_read; nothing here opens a shard, and only backend_cuda.cu names
 * the CUDA runtime.
 */
#ifndef TFS_DEVICE_H
#define TFS_DEVICE_H

#include <stdint.h>
#ifndef __cplusplus
#include <stdatomic.h>
#endif

#include "tensorfs.h"
#include "place/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tensors start at multiples of this within an arena: CUDA's own cudaMalloc alignment, and what
 * DLPack asks of `data`. */
#define TFS_ARENA_ALIGN 256u

/* ---- select.c ---------------------------------------------------------------------------------- */

/* Map entries, for checking GPU indices at load time. Index i < tfs_selection_map_count(). */
size_t tfs_selection_map_count(const struct tfs_selection *sel);
void tfs_selection_map_entry(const struct tfs_selection *sel, size_t i, const char **key,
			     struct tfs_device *dev);
/* The file or label the map came from ("" without a map). */
const char *tfs_selection_map_origin(const struct tfs_selection *sel);
int tfs_selection_has_map(const struct tfs_selection *sel);

/* Parses a device spelling: 0, -EINVAL (unknown) or -ERANGE (negative or huge index). No message. */
int tfs_device_parse_raw(const char *s, struct tfs_device *out);

/* ---- result.c: arenas and the result ------------------------------------------------------------ */

#ifndef __cplusplus /* atomics: C only; backend_cuda.cu needs none of this */

/* One allocation holding one or more tensors. Freed when the last reference goes. */
struct tfs_arena {
	atomic_uint refs;           /* the result's hold + one per live DLManagedTensor */
	struct tfs_device dev;
	const struct tfs_backend *be; /* dev's backend: frees base */
	void *base;
	uint64_t size;
};

/* Allocates an arena of `size` bytes (at least TFS_ARENA_ALIGN) on dev, refs = 1. */
int tfs_arena_new(struct tfs_device dev, uint64_t size, struct tfs_arena **out,
		  struct tfs_error *err);
void tfs_arena_unref(struct tfs_arena *a);

struct tfs_load_result {
	size_t n, cap;
	struct tfs_loaded *items;
	DLManagedTensor **dl;                   /* per item; NULL once taken */
	size_t cap_dl;
	struct tfs_arena **arenas;              /* the result's holds */
	size_t n_arenas, cap_arenas;
	struct tfs_load_device_total *devices;  /* report.devices */
	struct tfs_load_report report;
};

int tfs_result_new(struct tfs_load_result **out, struct tfs_error *err);
/* Hands the result's hold on `a` to r (on failure too: the arena is then released). */
int tfs_result_add_arena(struct tfs_load_result *r, struct tfs_arena *a, struct tfs_error *err);
/* Adds tensor t placed at a->base + off; creates its DLManagedTensor (a reference on a). */
int tfs_result_add(struct tfs_load_result *r, const struct tfs_tensor *t, struct tfs_arena *a,
		   uint64_t off, struct tfs_error *err);

/* ---- plan.c: the first half of tfs_load ------------------------------------------------------------ */

/* A copy from a chunk-relative offset (the source is known only once the chunk is read). */
struct tfs_plan_op {
	uint64_t src_off;
	void *dst;
	uint64_t len;
};

/* A contiguous run of one file going to one device, at most one staging buffer long. */
struct tfs_chunk {
	uint32_t file;
	uint64_t off, len;
	struct tfs_device dev;
	size_t op_begin, op_end;    /* its copies: plan.ops[op_begin..op_end) */
};

struct tfs_plan {
	struct tfs_chunk *chunks;
	size_t n_chunks, cap_chunks;
	struct tfs_plan_op *ops;
	size_t n_ops, cap_ops;
	uint64_t max_chunk;         /* longest chunk, bytes */
	size_t max_ops;             /* most copies in one chunk */
};

/* Fills the defaults of *o and checks it (-EINVAL naming the option). */
int tfs_plan_opts(struct tfs_load_opts *o, struct tfs_error *err);
/* Checks that every GPU the load may use exists (-ENODEV naming device, map and key); *ngpu is
 * the device count, 0 when no GPU is involved. */
int tfs_plan_gpus(const struct tfs_selection *sel, const struct tfs_load_opts *o, int *ngpu,
		  struct tfs_error *err);
/* Allocates arenas and fills r with the tensors of `cat` whose place is not DISK, and the
 * per-device totals of the report. */
int tfs_plan_alloc(const struct tfs_catalog *cat, const struct tfs_device *place, int ngpu,
		   int per_tensor, struct tfs_load_result *r, struct tfs_error *err);
/* Cuts r's tensors into chunks of at most slot_bytes. */
int tfs_plan_chunks(const struct tfs_load_result *r, uint64_t slot_bytes, struct tfs_plan *pl,
		    struct tfs_error *err);
void tfs_plan_free(struct tfs_plan *pl);
#endif

#ifdef __cplusplus
}
#endif
#endif
