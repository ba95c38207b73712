/*
 * backend.c - finds the backend for a device type (backend.h): the host table directly, the CUDA
 * table by dlopen()ing the plugin the first time a CUDA device is asked for.
 *
 * The plugin handle is the one piece of process-wide state in the library, on purpose: the CUDA
 * runtime it wraps is process-wide itself, device memory handed out through DLPack can outlive
 * every tensorfs object, and loading it twice would gain nothing. It is found once (pthread_once),
 * never closed, and read-only after that.
 */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "place/backend.h"
#include "error.h"

struct cuda_plugin {
	const struct tfs_backend *be;   /* NULL when the plugin could not be used */
	char why[TFS_ERR_MAX - 64];     /* then: the reason, without a device prefix */
};

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static struct cuda_plugin cuda_plugin;

/* dlopen()s path; 1 when it gave a usable table, 0 when absent, -1 when present but unusable
 * (p->why says why: a missing libcudart, a plugin from another build). */
static int try_plugin(struct cuda_plugin *p, const char *path)
{
	tfs_backend_entry_fn entry;
	const struct tfs_backend *be;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *e = dlerror();

		/* "No such file" means keep looking; any other failure is the answer. */
		if (strchr(path, '/') && access(path, F_OK) != 0)
			return 0;
		if (!strchr(path, '/') && e && strstr(e, "cannot open shared object file") &&
		    strstr(e, path) == e)
			return 0;
		snprintf(p->why, sizeof(p->why), "cannot load the CUDA plugin %s: %s", path,
			 e ? e : "unknown error");
		return -1;
	}
	*(void **)&entry = dlsym(h, TFS_BACKEND_SYMBOL);
	be = entry ? entry() : NULL;
	if (!be || be->abi != TFS_BACKEND_ABI || be->size != sizeof(struct tfs_backend)) {
		snprintf(p->why, sizeof(p->why), "the CUDA plugin %s is from another build of "
			 "tensorfs (%s; want backend ABI %d)", path,
			 !entry ? "no " TFS_BACKEND_SYMBOL : !be ? "no table" : "ABI mismatch",
			 TFS_BACKEND_ABI);
		dlclose(h);
		return -1;
	}
	p->be = be;
	return 1;
}

static void find_cuda_plugin(void)
{
	struct cuda_plugin *p = &cuda_plugin;
	const char *env = getenv("TENSORFS_CUDA_PLUGIN");
	char self[PATH_MAX], dir[PATH_MAX], cand[3][PATH_MAX + 64];
	Dl_info info;
	size_t n = 0;
	int rc;

	if (env && *env) {
		rc = try_plugin(p, env);
		if (rc == 0)
			snprintf(p->why, sizeof(p->why), "CUDA plugin %s (TENSORFS_CUDA_PLUGIN) not found",
				 env);
		return;
	}
	/* Next to the object holding this code: build/ for a build tree, PREFIX/lib once installed;
	 * a PREFIX/bin executable with the library linked in looks in PREFIX/lib. */
	dir[0] = 0;
	if (dladdr((void *)tfs_backend_get, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
		/* A relative name ("build/tensorfs") is relative to the current folder of the start. */
		if (!realpath(info.dli_fname, self))
			snprintf(self, sizeof(self), "%s", info.dli_fname);
		snprintf(dir, sizeof(dir), "%s", dirname(self));
		snprintf(cand[n++], sizeof(cand[0]), "%s/%s", dir, TFS_CUDA_PLUGIN);
		snprintf(cand[n++], sizeof(cand[0]), "%s/../lib/%s", dir, TFS_CUDA_PLUGIN);
	}
	snprintf(cand[n++], sizeof(cand[0]), "%s", TFS_CUDA_PLUGIN);
	for (size_t i = 0; i < n; i++) {
		rc = try_plugin(p, cand[i]);
		if (rc != 0)
			return;
	}
	snprintf(p->why, sizeof(p->why), "CUDA support not available: no %s in %.200s%s nor on the "
		 "library path (a build without nvcc has none)", TFS_CUDA_PLUGIN,
		 dir[0] ? dir : "the library's folder", dir[0] ? " or ../lib" : "");
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
