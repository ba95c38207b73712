/*
 * plugin.c - finding and dlopen()ing a part of libtensorfs built as its own shared object (see
 * plugin.h).
 */
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

/* dlopen()s path: 1 when it holds `symbol`, 0 when there is no such file, -1 otherwise. */
static int try_path(const char *path, const char *symbol, const char *kind, struct tfs_plugin *p)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *e = dlerror();

		/* "No such file" means keep looking; any other failure is the answer. */
		if (strchr(path, '/') && access(path, F_OK) != 0)
			return 0;
		if (!strchr(path, '/') && e && strstr(e, "cannot open shared object file") &&
		    strstr(e, path) == e)
			return 0;
		snprintf(p->why, sizeof(p->why), "cannot load the %s plugin %s: %s", kind, path,
			 e ? e : "unknown error");
		return -1;
	}
	p->entry = dlsym(h, symbol);
	if (!p->entry) {
		snprintf(p->why, sizeof(p->why), "the %s plugin %s is from another build of tensorfs "
			 "(no %s)", kind, path, symbol);
		dlclose(h);
		return -1;
	}
	p->handle = h;
	snprintf(p->path, sizeof(p->path), "%s", path);
	return 1;
}

int tfs_plugin_open(const char *file, const char *env, const char *symbol, const char *kind,
		    const char *hint, const void *anchor, struct tfs_plugin *p)
{
	const char *forced = env ? getenv(env) : NULL;
	char self[PATH_MAX], dir[PATH_MAX], cand[3][PATH_MAX + 64];
	Dl_info info;
	size_t n = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	if (forced && *forced) {
		rc = try_path(forced, symbol, kind, p);
		if (rc == 0)
			snprintf(p->why, sizeof(p->why), "%s plugin %s (%s) not found", kind, forced, env);
		return rc;
	}
	dir[0] = 0;
	if (dladdr(anchor, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
		/* A relative name ("build/tensorfs") is relative to the current folder of the start. */
		if (!realpath(info.dli_fname, self))
			snprintf(self, sizeof(self), "%s", info.dli_fname);
		snprintf(dir, sizeof(dir), "%s", dirname(self));
		snprintf(cand[n++], sizeof(cand[0]), "%s/%s", dir, file);
		snprintf(cand[n++], sizeof(cand[0]), "%s/../lib/%s", dir, file);
	}
	snprintf(cand[n++], sizeof(cand[0]), "%s", file);
	for (size_t i = 0; i < n; i++) {
		rc = try_path(cand[i], symbol, kind, p);
		if (rc != 0)
			return rc;
	}
	snprintf(p->why, sizeof(p->why), "%s support not available: no %s in %.200s%s nor on the "
		 "library path (%s)", kind, file, dir[0] ? dir : "the library's folder",
		 dir[0] ? " or ../lib" : "", hint);
	return 0;
}
