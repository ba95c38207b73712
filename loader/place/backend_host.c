/*
 * backend_host.c - the host backend of device placement (backend.h): where "cpu" tensors and host
 * staging buffers live, and the copy out of a staging buffer or cache block, which on the host is a
 * memcpy done at submit time (so there is no queue and nothing to wait for).
 *
 * The host path runs through the same staging ring and copy loop as the CUDA path (load.c), so
 * the whole pipeline is exercised by the unit tests on machines without a GPU.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "place/backend.h"
#include "error.h"

/* Page alignment: tensors start 256-aligned inside an arena, and a page-aligned base keeps
 * vectorised consumers and O_DIRECT-style users happy at no cost. */
#define HOST_ALIGN 4096u
/* Allocations of at least a huge page are aligned to one and asked to use transparent huge pages:
 * a load writes every byte of a tensor once into fresh memory, and faulting that memory in 4 KiB
 * pages (262,144 faults per GiB) cost more than the copy itself on this VM. */
#define HOST_HUGE (2u << 20)

static int host_count(char *why, size_t cap)
{
	return 1;
}

static int host_alloc(uint64_t size, void **out, struct tfs_error *err)
{
	void *p = NULL;
	int rc;

	if (size > SIZE_MAX - HOST_ALIGN)
		return tfs_error_set(err, -ENOMEM, "cpu: cannot allocate %" PRIu64 " bytes", size);
	rc = posix_memalign(&p, size >= HOST_HUGE ? HOST_HUGE : HOST_ALIGN, size ? (size_t)size : 1);
	if (!rc && size >= HOST_HUGE)
		madvise(p, (size_t)size & ~(size_t)(HOST_HUGE - 1), MADV_HUGEPAGE); /* a hint only */
	if (rc)
		return tfs_error_set(err, -rc, "cpu: cannot allocate %" PRIu64 " bytes: %s", size,
				     strerror(rc));
	*out = p;
	return 0;
}

static int host_dev_alloc(int dev, uint64_t size, void **out, struct tfs_error *err)
{
	return host_alloc(size, out, err);
}

static void host_free(void *p)
{
	free(p);
}

static void host_dev_free(int dev, void *p)
{
	free(p);
}

static int host_to_host(int dev, void *dst, const void *src, uint64_t len, struct tfs_error *err)
{
	memcpy(dst, src, len);
	return 0;
}

/* memcpy needs no page-locked source. */
static int host_is_pinned(const void *p)
{
	return 1;
}

static int host_open(const int *devs, size_t n_devs, unsigned streams, unsigned slots,
		     struct tfs_queue **out, struct tfs_error *err)
{
	*out = NULL;
	return 0;
}

static void host_close(struct tfs_queue *q)
{
}

static int host_submit(struct tfs_queue *q, int dev, unsigned slot, const struct tfs_copy *ops,
		       size_t n, struct tfs_error *err)
{
	for (size_t i = 0; i < n; i++)
		memcpy(ops[i].dst, ops[i].src, ops[i].len);
	return 1;
}

static int host_sync(struct tfs_queue *q, unsigned slot, int block, struct tfs_error *err)
{
	return 1;
}

static const struct tfs_backend host_backend = {
	.abi = TFS_BACKEND_ABI,
	.size = sizeof(struct tfs_backend),
	.name = "cpu",
	.dl_device = kDLCPU,
	.count = host_count,
	.alloc = host_dev_alloc,
	.free = host_dev_free,
	.host_alloc = host_alloc,
	.host_free = host_free,
	.to_host = host_to_host,
	.is_pinned = host_is_pinned,
	.open = host_open,
	.close = host_close,
	.submit = host_submit,
	.sync = host_sync,
};

const struct tfs_backend *tfs_backend_host(void)
{
	return &host_backend;
}
