/*
 * backend_cuda.cu - the CUDA backend of device placement (loader/place/backend.h): device memory,
 * pinned staging buffers, and asynchronous host-to-device copies on several streams per GPU.
 *
 * Built only when the Makefile finds nvcc, and into its own plugin, libtensorfs-cuda.so (with
 * loader/util/error.c and nothing else of the library), which links libcudart; backend.c
 * dlopen()s it the first time a CUDA device is asked for, so processes that only use the host
 * never load the CUDA runtime. The plugin exports one symbol (cuda-plugin.map): the entry that
 * returns the table at the bottom of this file.
 * No kernels: only the runtime API, so any nvcc and any GPU architecture will do.
 *
 * Streams and events of a load live in struct tfs_queue: `streams` streams per device used, and
 * one event per (device, staging slot), because an event must be recorded on a stream of its own
 * device. A slot's copies all go to one device (plan.c cuts chunks at device changes), so waiting
 * for the slot is waiting for the event last recorded for it.
 */
#include <cuda_runtime.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

extern "C" {
#include "error.h"
}
#include "place/backend.h"

struct tfs_cuda_dev {
	int index;
	cudaStream_t *streams;      /* `streams` of them */
	cudaEvent_t *events;        /* one per slot */
};

struct tfs_queue {
	struct tfs_cuda_dev *devs;
	size_t n_devs;
	unsigned n_streams, n_slots;
	int *slot_dev;              /* per slot: position in devs of its last submit, -1 if none */
	unsigned *turn;             /* per device position: next stream to use (round robin) */
};

/* Runs `call` on device `dev` and puts the caller's current device back: the deleters run on
 * arbitrary user threads (Python's GC included), whose current device is not ours to change. */
static cudaError_t on_device(int dev, int *old)
{
	cudaError_t e = cudaGetDevice(old);

	if (e != cudaSuccess)
		return e;
	return *old == dev ? cudaSuccess : cudaSetDevice(dev);
}

static void restore_device(int dev, int old)
{
	if (old != dev)
		cudaSetDevice(old);
}

static int cuda_count(char *why, size_t cap)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess) {
		snprintf(why, cap, "no CUDA device (cudaGetDeviceCount: %s)", cudaGetErrorString(e));
		return -ENODEV;
	}
	if (n <= 0) {
		snprintf(why, cap, "no CUDA device (cudaGetDeviceCount: 0 devices)");
		return -ENODEV;
	}
	return n;
}

static const char *human(uint64_t b, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.2f GiB", (double)b / (1024.0 * 1024.0 * 1024.0));
	return buf;
}

static int cuda_malloc(int dev, uint64_t size, void **out, struct tfs_error *err)
{
	char h[32];
	int old;
	cudaError_t e = on_device(dev, &old);

	if (e == cudaSuccess) {
		e = cudaMalloc(out, size);
		restore_device(dev, old);
	}
	if (e != cudaSuccess) {
		cudaGetLastError();     /* clear the sticky-free error state for the next call */
		return tfs_error_set(err, e == cudaErrorMemoryAllocation ? -ENOMEM : -EIO,
				     "cuda:%d: cudaMalloc(%llu bytes, %s): %s", dev,
				     (unsigned long long)size, human(size, h, sizeof(h)),
				     cudaGetErrorString(e));
	}
	return 0;
}

static void cuda_free(int dev, void *p)
{
	int old;

	if (!p || on_device(dev, &old) != cudaSuccess)
		return;
	cudaFree(p);
	restore_device(dev, old);
}

static int cuda_host_alloc(uint64_t size, void **out, struct tfs_error *err)
{
	char h[32];
	/* Portable: the same staging buffer feeds copies to every GPU of a device map. */
	cudaError_t e = cudaHostAlloc(out, size, cudaHostAllocPortable);

	if (e != cudaSuccess) {
		cudaGetLastError();
		return tfs_error_set(err, -ENOMEM, "cuda: cudaHostAlloc(%llu bytes, %s): %s",
				     (unsigned long long)size, human(size, h, sizeof(h)),
				     cudaGetErrorString(e));
	}
	return 0;
}

static void cuda_host_free(void *p)
{
	if (p)
		cudaFreeHost(p);
}

static int cuda_to_host(int dev, void *dst, const void *src, uint64_t len,
			struct tfs_error *err)
{
	int old;
	cudaError_t e = on_device(dev, &old);

	if (e == cudaSuccess) {
		e = cudaMemcpy(dst, src, len, cudaMemcpyDeviceToHost);
		restore_device(dev, old);
	}
	if (e != cudaSuccess)
		return tfs_error_set(err, -EIO, "cuda:%d: cudaMemcpy to host (%llu bytes): %s", dev,
				     (unsigned long long)len, cudaGetErrorString(e));
	return 0;
}

static void cuda_close(struct tfs_queue *c)
{
	if (!c)
		return;
	for (size_t d = 0; c->devs && d < c->n_devs; d++) {
		struct tfs_cuda_dev *cd = &c->devs[d];

		if (cudaSetDevice(cd->index) != cudaSuccess)
			continue;
		/* Queued copies read the staging ring the caller frees next: let them finish. */
		for (unsigned s = 0; cd->streams && s < c->n_streams; s++)
			if (cd->streams[s]) {
				cudaStreamSynchronize(cd->streams[s]);
				cudaStreamDestroy(cd->streams[s]);
			}
		for (unsigned s = 0; cd->events && s < c->n_slots; s++)
			if (cd->events[s])
				cudaEventDestroy(cd->events[s]);
		free(cd->streams);
		free(cd->events);
	}
	free(c->devs);
	free(c->slot_dev);
	free(c->turn);
	free(c);
}

static int cuda_open(const int *devs, size_t n_devs, unsigned streams, unsigned slots,
		     struct tfs_queue **out, struct tfs_error *err)
{
	struct tfs_queue *c = (struct tfs_queue *)calloc(1, sizeof(*c));
	cudaError_t e = cudaSuccess;
	int rc, d_err = -1;

	if (!c)
		return tfs_error_set(err, -ENOMEM, "cuda: out of memory");
	c->n_streams = streams;
	c->n_slots = slots;
	c->devs = (struct tfs_cuda_dev *)calloc(n_devs, sizeof(*c->devs));
	c->slot_dev = (int *)malloc(slots * sizeof(int));
	c->turn = (unsigned *)calloc(n_devs, sizeof(unsigned));
	if (!c->devs || !c->slot_dev || !c->turn) {
		rc = tfs_error_set(err, -ENOMEM, "cuda: out of memory");
		goto fail;
	}
	c->n_devs = n_devs;
	for (unsigned s = 0; s < slots; s++)
		c->slot_dev[s] = -1;
	for (size_t d = 0; d < n_devs; d++) {
		struct tfs_cuda_dev *cd = &c->devs[d];

		cd->index = d_err = devs[d];
		cd->streams = (cudaStream_t *)calloc(streams, sizeof(cudaStream_t));
		cd->events = (cudaEvent_t *)calloc(slots, sizeof(cudaEvent_t));
		if (!cd->streams || !cd->events) {
			rc = tfs_error_set(err, -ENOMEM, "cuda: out of memory");
			goto fail;
		}
		e = cudaSetDevice(cd->index);
		/* Non-blocking streams: no implicit sync with the legacy default stream of other
		 * libraries in the process. */
		for (unsigned s = 0; e == cudaSuccess && s < streams; s++)
			e = cudaStreamCreateWithFlags(&cd->streams[s], cudaStreamNonBlocking);
		/* Blocking-sync events: the copier sleeps instead of spinning against the readers. */
		for (unsigned s = 0; e == cudaSuccess && s < slots; s++)
			e = cudaEventCreateWithFlags(&cd->events[s],
						     cudaEventDisableTiming | cudaEventBlockingSync);
		if (e != cudaSuccess)
			break;
	}
	if (e != cudaSuccess) {
		rc = tfs_error_set(err, -EIO, "cuda:%d: creating streams and events: %s", d_err,
				   cudaGetErrorString(e));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	cuda_close(c);
	return rc;
}

static int dev_pos(const struct tfs_queue *c, int dev)
{
	for (size_t d = 0; d < c->n_devs; d++)
		if (c->devs[d].index == dev)
			return (int)d;
	return -1;
}

static int cuda_is_pinned(const void *p)
{
	struct cudaPointerAttributes a;

	if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
		cudaGetLastError();
		return 0;
	}
	return a.type == cudaMemoryTypeHost;
}

/* Queues the slot's copies on the next stream of dev, then records the slot's event: 0. */
static int cuda_submit(struct tfs_queue *c, int dev, unsigned slot,
		       const struct tfs_copy *ops, size_t n, struct tfs_error *err)
{
	int d = dev_pos(c, dev);
	struct tfs_cuda_dev *cd;
	cudaStream_t st;
	cudaError_t e;

	if (d < 0 || slot >= c->n_slots)
		return tfs_error_set(err, -EINVAL, "cuda:%d: not opened for this load", dev);
	cd = &c->devs[d];
	st = cd->streams[c->turn[d]++ % c->n_streams];
	e = cudaSetDevice(dev);
	for (size_t i = 0; e == cudaSuccess && i < n; i++)
		e = cudaMemcpyAsync(ops[i].dst, ops[i].src, ops[i].len, cudaMemcpyHostToDevice, st);
	if (e == cudaSuccess)
		e = cudaEventRecord(cd->events[slot], st);
	if (e != cudaSuccess)
		return tfs_error_set(err, -EIO, "cuda:%d: cudaMemcpyAsync: %s", dev,
				     cudaGetErrorString(e));
	c->slot_dev[slot] = d;
	return 0;
}

static int cuda_query(struct tfs_queue *c, unsigned slot, struct tfs_error *err)
{
	int d = c->slot_dev[slot];
	cudaError_t e;

	if (d < 0)
		return 1;
	e = cudaEventQuery(c->devs[d].events[slot]);
	if (e == cudaErrorNotReady)
		return 0;
	if (e != cudaSuccess)
		return tfs_error_set(err, -EIO, "cuda:%d: copy failed: %s", c->devs[d].index,
				     cudaGetErrorString(e));
	return 1;
}

static int cuda_wait(struct tfs_queue *c, unsigned slot, struct tfs_error *err)
{
	int d = c->slot_dev[slot];
	cudaError_t e;

	if (d < 0)
		return 0;
	e = cudaEventSynchronize(c->devs[d].events[slot]);
	if (e != cudaSuccess)
		return tfs_error_set(err, -EIO, "cuda:%d: copy failed: %s", c->devs[d].index,
				     cudaGetErrorString(e));
	return 0;
}

static int cuda_sync(struct tfs_queue *c, unsigned slot, int block, struct tfs_error *err)
{
	int rc;

	if (!block)
		return cuda_query(c, slot, err);
	rc = cuda_wait(c, slot, err);
	return rc < 0 ? rc : 1;
}

static const struct tfs_backend cuda_backend = {
	TFS_BACKEND_ABI,
	sizeof(struct tfs_backend),
	"cuda",
	kDLCUDA,
	cuda_count,
	cuda_malloc,
	cuda_free,
	cuda_host_alloc,
	cuda_host_free,
	cuda_to_host,
	cuda_is_pinned,
	cuda_open,
	cuda_close,
	cuda_submit,
	cuda_sync,
};

/* The plugin's one export (backend.h: TFS_BACKEND_SYMBOL). */
extern "C" const struct tfs_backend *tfs_cuda_backend_v1(void)
{
	return &cuda_backend;
}
