/*
 * passthrough.c - --passthrough: checkpoint files (the shards as the mount shows them, not tensor
 * files) open in the kernel's FUSE passthrough mode, so reads and mmap faults of them go to the
 * shard itself without a request to this daemon: one copy, the shard's own page cache. Tensor
 * files cannot use it (passthrough maps a whole file, not a byte range).
 *
 * auto (the default) uses it for a file the page cache holds in full (tfs_engine_whole_hot) at
 * an open while no handle of it is open through the daemon; a cold file goes through the daemon,
 * whose large block reads and warm-up beat the shard's own 128 KiB readahead (bench: mmap of cold
 * shards through passthrough ran 7x slower on the throttled profile). off never uses it.
 *
 * One backing id per file, registered at its first passthrough open and kept for the mount's
 * life: the kernel refuses an open that would give one inode two backing files, or mix
 * passthrough and page-cache handles, hence pt_live and the sticky id.
 *
 * What a reader gets when a shard changes: a handle opened in passthrough mode reads the file it
 * opened as if it had opened the shard directly (in-place writes show, a file renamed over or
 * deleted keeps its old bytes); opens after the engine refused the file (its watch, inval.c) or
 * after its identity changed go through the daemon and fail (EIO, or the kernel's refusal to mix
 * modes while an old handle is open), as every read of its tensors does.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <unistd.h>

#include "log.h"
#include "mount.h"

void tfs_pt_init(struct tfs_mount *m, struct fuse_conn_info *conn)
{
	m->pt_on = 0;
	if (m->passthrough == TFS_PT_OFF)
		return;
#ifdef FUSE_CAP_PASSTHROUGH
	if (conn->capable & FUSE_CAP_PASSTHROUGH) {
		conn->want |= FUSE_CAP_PASSTHROUGH;
		/* Shards may sit on a stacked filesystem (overlayfs in containers). */
		conn->max_backing_stack_depth = FUSE_BACKING_STACKED_OVER;
		m->pt_on = 1;
		return;
	}
	m->pt_note = "the kernel offers no FUSE passthrough (needs 6.9+, CONFIG_FUSE_PASSTHROUGH)";
#else
	(void)conn;
	m->pt_note = "built against libfuse < 3.17 (run scripts/build-libfuse.sh, then rebuild)";
#endif
	tfs_log(m->log, "--passthrough: %s; checkpoint files go through the daemon", m->pt_note);
}

/* Registers `file` with the kernel when the page cache holds all of it and it is the file mounted:
 * the backing id (> 0); 0 when it is not all resident (ask again at a later open); -1 never
 * (changed since mounted, or the kernel refused). Under pt_lock. */
static int32_t pt_register(struct tfs_mount *m, fuse_req_t req, uint32_t file)
{
	struct tfs_error err = { 0 };
	int fd, id, rc = tfs_engine_whole_hot(m->engine, file, &fd, &err);

	if (rc <= 0)
		return rc < 0 ? -1 : 0;
#ifdef FUSE_CAP_PASSTHROUGH
	id = fuse_passthrough_open(req, fd); /* the kernel takes its own reference to the file */
#else
	id = 0;
	(void)req;
#endif
	tfs_engine_hot_done(m->engine, file);
	if (id <= 0) {
		/* The reason (the daemon's privileges) holds for every file: stop trying. Files
		 * registered before keep their mode; each inode keeps one mode either way. */
		m->pt_note = geteuid() ? "the kernel refused it (needs root: CAP_SYS_ADMIN)"
				       : "the kernel refused it";
		m->pt_on = 0;
		tfs_log(m->log, "--passthrough: %s (%s); checkpoint files go through the daemon",
			m->pt_note, tfs_catalog_file(m->cat, file)->path);
		return -1;
	}
	return id;
}

int32_t tfs_pt_open(struct tfs_mount *m, fuse_req_t req, uint32_t file)
{
	int32_t id = 0;

	pthread_mutex_lock(&m->pt_lock);
	if (m->pt_on) {
		id = m->pt_id[file];
		if (id == 0 && m->pt_live[file] == 0)
			id = m->pt_id[file] = pt_register(m, req, file);
	}
	if (id <= 0)
		m->pt_live[file]++;
	else
		atomic_fetch_add(&m->pt_opens, 1);
	pthread_mutex_unlock(&m->pt_lock);
	return id > 0 ? id : 0;
}

void tfs_pt_close(struct tfs_mount *m, uint32_t file)
{
	pthread_mutex_lock(&m->pt_lock);
	m->pt_live[file]--;
	pthread_mutex_unlock(&m->pt_lock);
}

void tfs_pt_refuse(struct tfs_mount *m, uint32_t file)
{
	if (!m->pt_id)
		return;
	/* The id stays registered (closing it needs a request); it is only never handed out again.
	 * The kernel drops it with the connection. */
	pthread_mutex_lock(&m->pt_lock);
	m->pt_id[file] = -1;
	pthread_mutex_unlock(&m->pt_lock);
}
