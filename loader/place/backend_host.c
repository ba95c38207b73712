/*
 * device_host.c - the host backend of device placement: where "cpu" tensors and host staging
 * buffers live, and the copy out of a staging buffer or cache block, which on the host is a memcpy.
 *
 * The host path runs through the same staging ring and copy loop as the CUDA path (load.c), so
 * the whole pipeline is exercised by the unit tests on machines without a GPU.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "place/place.h"
#include "error.h"

/* Page alignment: tensors start 256-aligned inside an arena, and a page-aligned base keeps
 * vectorised consumers and O_DIRECT-style users happy at no cost. */
#define HOST_ALIGN 4096u

int tfs_host_alloc(uint64_t size, void **out, struct tfs_error *err)
{
	void *p = NULL;
	int rc;

	if (size > SIZE_MAX - HOST_ALIGN)
		return tfs_error_set(err, -ENOMEM, "cpu: cannot allocate %" PRIu64 " bytes", size);
	rc = posix_memalign(&p, HOST_ALIGN, size ? (size_t)size : 1);
	if (rc)
		return tfs_error_set(err, -rc, "cpu: cannot allocate %" PRIu64 " bytes: %s", size,
				     strerror(rc));
	*out = p;
	return 0;
}

void tfs_host_free(void *p)
{
	free(p);
}

void tfs_host_copy(const struct tfs_copy *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		memcpy(ops[i].dst, ops[i].src, ops[i].len);
}
