/*
 * plugin.h - finding and dlopen()ing a part of libtensorfs built as its own shared object: the CUDA
 * backend (libtensorfs-cuda.so, place/backend.c) and the HTTP byte source (libtensorfs-http.so,
 * io/source_remote.c). Neither the library nor `tensorfs` links what such a part needs (libcudart;
 * libcurl and the ~30 libraries it pulls in), so a process that never asks for it never loads it:
 * loading libcurl's tree costs ~1 s of a cold start on a throttled disk.
 *
 * Where a plugin is looked for, in order: only $ENV when that variable is set; else next to the
 * object holding `anchor` (build/ for a build tree, PREFIX/lib once installed), that folder's
 * ../lib (PREFIX/bin/tensorfs with the library linked in), and the library path.
 */
#ifndef TFS_PLUGIN_H
#define TFS_PLUGIN_H

#include <limits.h>

#include "tensorfs.h"

struct tfs_plugin {
	void *handle;               /* dlopen()'s, or NULL; never closed by this module */
	void *entry;                /* the symbol's address once found */
	char path[PATH_MAX];        /* where it was loaded from */
	char why[TFS_ERR_MAX - 64]; /* when not found or unusable: why, as a phrase */
};

/*
 * Looks for `file` (see above) and resolves `symbol` in it; `kind` names it in messages ("CUDA"),
 * `hint` says how to get it. Returns 1 (p->entry, p->path, p->handle set), 0 when absent (p->why:
 * "KIND support not available: no FILE in DIR or ../lib nor on the library path (HINT)", or
 * "KIND plugin PATH (ENV) not found" when $ENV named it), or -1 when present but unusable (p->why:
 * "cannot load the KIND plugin PATH: REASON", or "the KIND plugin PATH is from another build of
 * tensorfs (no SYMBOL)"). The caller checks the entry's ABI.
 */
int tfs_plugin_open(const char *file, const char *env, const char *symbol, const char *kind,
		    const char *hint, const void *anchor, struct tfs_plugin *p);

#endif
