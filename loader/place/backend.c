/*
 * backend.c - finds the backend for a device type (backend.h): the host table directly, the CUDA
 * table by dlopen()ing the plugin the first time a CUDA device is asked for.
 *
 * The plugin handle is process-wide state, on purpose (as is the HTTP plugin's in
 * io/source_remote.c): the CUDA runtime it wraps is process-wide itself, device memory handed out
 * through DLPack can outlive every tensorfs object, and loading it twice would gain nothing. It is
 * found once (pthread_once, util/plugin.h), never closed, and read-only after that.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "place/backend.h"
#include "error.h"
#include "plugin.h"

struct cuda_plugin {
	const struct tfs_backend *be;   /* NULL when the plugin could not be used */
	char why[TFS_ERR_MAX - 64];     /* then: the reason, without a device prefix */
};

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static struct cuda_plugin cuda_plugin;

static void find_cuda_plugin(void)
{
	struct cuda_plugin *p = &cuda_plugin;
	struct tfs_plugin pl;
	tfs_backend_entry_fn entry;
	const struct tfs_backend *be;
	int rc = tfs_plugin_open(TFS_CUDA_PLUGIN, "TENSORFS_CUDA_PLUGIN", TFS_BACKEND_SYMBOL, "CUDA",
				 "a build without nvcc has none", (const void *)tfs_backend_get, &pl);

	if (rc <= 0) {
		snprintf(p->why, sizeof(p->why), "%s", pl.why);
		return;
	}
	*(void **)&entry = pl.entry;
	be = entry();
	if (!be || be->abi != TFS_BACKEND_ABI || be->size != sizeof(struct tfs_backend)) {
		snprintf(p->why, sizeof(p->why), "the CUDA plugin %.300s is from another build of "
			 "tensorfs (%s; want backend ABI %d)", pl.path, !be ? "no table" : "ABI mismatch",
			 TFS_BACKEND_ABI);
		dlclose(pl.handle);
		return;
	}
	p->be = be;
}

int tfs_backend_get(enum tfs_device_type type, const struct tfs_backend **out,
		    struct tfs_error *err)
{
	if (type == TFS_DEVICE_CPU) {
		*out = tfs_backend_host();
		return 0;
	}
	if (type != TFS_DEVICE_CUDA)
		return tfs_error_set(err, -EINVAL, "not a memory device");
	pthread_once(&cuda_once, find_cuda_plugin);
	if (!cuda_plugin.be)
		return tfs_error_set(err, -ENODEV, "%s", cuda_plugin.why);
	*out = cuda_plugin.be;
	return 0;
}
