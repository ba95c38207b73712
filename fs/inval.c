/*
 * inval.c - a checkpoint file changed under the mount: drop every copy of its bytes the kernel
 * holds, so no reader is served them again.
 *
 * Data flow: the engine's watch (loader/io/watch.c) sees the change, or a fetch of a remote file
 * finds its ETag changed and reports it there, and the file is refused from then on; the watch
 * calls tfs_mount_file_changed() on its own thread, which invalidates the page cache and
 * attributes of each node whose bytes come from that file (its tensors, and the file itself
 * where the tree shows it) and forgets their cached digests. The next read of any of them reaches
 * the daemon and fails with EIO. The consistency a reader gets is in README.md ("What a reader
 * sees when a checkpoint file changes").
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <string.h>

#include "log.h"
#include "mount.h"

void tfs_mount_file_changed(void *ctx, uint32_t file)
{
	struct tfs_mount *m = ctx;
	size_t n = tfs_tree_count(m->tree), dropped = 0;
	const char *path = tfs_catalog_file(m->cat, file)->path;

	tfs_pt_refuse(m, file);

	for (size_t id = 0; id < n; id++) {
		const struct tfs_node *nd = tfs_tree_node(m->tree, (uint32_t)id);
		int ours;

		if (nd->kind == TFS_NODE_TENSOR)
			ours = tfs_catalog_tensor(m->cat, nd->ref)->file == file;
		else
			ours = nd->kind == TFS_NODE_FILE && nd->ref == file;
		if (!ours)
			continue;
		if (nd->kind == TFS_NODE_TENSOR)
			atomic_store(&m->xxh_state[nd->ref], 0);
		/* -ENOENT: the kernel holds nothing of this inode; nothing to drop. */
		fuse_lowlevel_notify_inval_inode(m->se, (fuse_ino_t)id + 1, 0, 0);
		dropped++;
	}
	tfs_log(m->log, "%s changed %s: refused from now on; dropped the kernel's cache of %zu files",
		path, strstr(path, "://") ? "on the server" : "on disk", dropped);
}
