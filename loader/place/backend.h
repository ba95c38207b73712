/*
 * backend.h - the placement backend seam: one table of functions per kind of memory a tensor can
 * be placed in. load.c, plan.c and result.c call only through this table, so they never name CUDA.
 *
 *   host   backend_host.c, in libtensorfs: aligned allocations; a "copy in" is a memcpy.
 *   cuda   backend_cuda.cu, built into its own plugin (libtensorfs-cuda.so, next to the library)
 *          that tfs_backend_get() dlopen()s the first time a CUDA device is asked for. Neither
 *          libtensorfs.so nor `tensorfs` links libcudart, so a cpu-only process never pays for the
 *          CUDA runtime's start-up; without the plugin (no nvcc at build time) or without a driver,
 *          a CUDA request fails with -ENODEV and a message saying which.
 *
 * The plugin exports one symbol, TFS_BACKEND_SYMBOL, a function returning its table; `abi` and
 * `size` guard against a plugin from another build (a mismatch is refused, never called).
 * The table is immutable and lives as long as the process (the plugin is never dlclose()d: tensors
 * on a GPU may outlive every tensorfs object and still need `free`).
 */
#ifndef TFS_PLACE_BACKEND_H
#define TFS_PLACE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "tensorfs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bump when struct tfs_backend or the meaning of a member changes. */
#define TFS_BACKEND_ABI 1
#define TFS_BACKEND_SYMBOL "tfs_cuda_backend_v1"
#define TFS_CUDA_PLUGIN "libtensorfs-cuda.so"

/* One copy out of a staging buffer or a pinned cache block into a tensor. */
struct tfs_copy {
	const void *src;            /* host address */
	void *dst;                  /* host or device address */
	uint64_t len;
};

/* A backend's per-load copy machinery (CUDA: streams and events); opaque to the caller. */
struct tfs_queue;

struct tfs_backend {
	unsigned abi;               /* TFS_BACKEND_ABI */
	size_t size;                /* sizeof(struct tfs_backend) of the build that made the table */
	const char *name;           /* "cpu" or "cuda" */
	int dl_device;              /* DLDeviceType of its memory: kDLCPU or kDLCUDA */

	/* Devices present (> 0), or -ENODEV with the reason in why ("no CUDA device (...)"). */
	int (*count)(char *why, size_t cap);
	/* Tensor memory on device `dev` (size >= 1); messages name the device. */
	int (*alloc)(int dev, uint64_t size, void **out, struct tfs_error *err);
	void (*free)(int dev, void *p);          /* NULL p is fine; keeps the caller's current device */
	/* Host memory for staging buffers; page-locked where the backend's copies need that. */
	int (*host_alloc)(uint64_t size, void **out, struct tfs_error *err);
	void (*host_free)(void *p);
	/* Synchronous copy of device memory back to the host, for tfs_load_verify. */
	int (*to_host)(int dev, void *dst, const void *src, uint64_t len, struct tfs_error *err);
	/* 1 when host memory p can be copied from asynchronously (a pinned cache block). */
	int (*is_pinned)(const void *p);

	/* Per load: `streams` streams per device of devs, one completion marker per staging slot.
	 * *out may be NULL for a backend that needs nothing (host). */
	int (*open)(const int *devs, size_t n_devs, unsigned streams, unsigned slots,
		    struct tfs_queue **out, struct tfs_error *err);
	/* Waits for every copy still queued, then releases the queue. Cannot fail; NULL is fine. */
	void (*close)(struct tfs_queue *q);
	/* Copy in: starts slot `slot`'s copies to device dev; 1 when already done, 0 when queued. */
	int (*submit)(struct tfs_queue *q, int dev, unsigned slot, const struct tfs_copy *ops,
		      size_t n, struct tfs_error *err);
	/* Sync: 1 when the slot's copies are done, 0 while they run (only when !block), or -errno. */
	int (*sync)(struct tfs_queue *q, unsigned slot, int block, struct tfs_error *err);
};

/* The host backend; always there. */
const struct tfs_backend *tfs_backend_host(void);

/* The backend for devices of `type` (CPU or CUDA). CUDA loads the plugin on first use (thread
 * safe, once per process): -ENODEV "cuda: ..." naming what is missing. The search: the file named
 * by $TENSORFS_CUDA_PLUGIN, else libtensorfs-cuda.so in the folder of the object holding this
 * code (build/, or PREFIX/lib), else PREFIX/lib beside a PREFIX/bin executable, else the dynamic
 * linker's path. */
int tfs_backend_get(enum tfs_device_type type, const struct tfs_backend **out,
		    struct tfs_error *err);

/* The plugin's entry point (backend_cuda.cu defines it; the library only dlsym()s it). */
typedef const struct tfs_backend *(*tfs_backend_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
