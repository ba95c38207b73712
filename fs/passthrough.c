/*
 * passthrough.c - --passthrough on: checkpoint files (the shards as the mount shows them, not
 * tensor files) open in the kernel's FUSE passthrough mode, so reads and mmap faults of them go
 * to the shard itself without a request to this daemon: one copy, the shard's own page cache and
 * readahead. Tensor files cannot use it (passthrough maps a whole file, not a byte range).
 *
 * One backing id per checkpoint file, registered at its first open and kept for the mount's life
 * (the kernel refuses two backing files for one inode open at once). What a reader gets when the
 * file changes: a handle opened in passthrough mode reads the file it opened as if it had opened
 * the shard directly (in-place writes show, a file renamed over or deleted keeps its old bytes);
 * opens after the engine refused the file (its watch, inval.c) or after its identity changed go
 * through the daemon and get EIO like every other read of it. That is weaker than the tensor
 * files' model (README), which is why it is not the default.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mount.h"

void tfs_pt_init(struct tfs_mount *m, struct fuse_conn_info *conn)
{
	m->pt_on = 0;
	if (!m->passthrough)
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
	tfs_log(m->log, "--passthrough on: %s; checkpoint files go through the daemon", m->pt_note);
}

/* Opens f and registers it with the kernel; the backing id (> 0), or -1 when the file is not the
 * one mounted or the kernel refused (no CAP_SYS_ADMIN, ...). */
static int32_t pt_register(struct tfs_mount *m, fuse_req_t req, const struct tfs_file *f)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC), id;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino ||
	    (uint64_t)st.st_size != f->size ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != f->mtime_ns) {
		close(fd);
		return -1;
	}
#ifdef FUSE_CAP_PASSTHROUGH
	id = fuse_passthrough_open(req, fd);
#else
	id = 0;
	(void)req;
#endif
	close(fd); /* the kernel holds its own reference from here */
	if (id <= 0) {
		/* The reason (the daemon's privileges) holds for every file: stop trying. Files
		 * registered before keep their mode; each inode keeps one mode either way. */
		m->pt_note = geteuid() ? "the kernel refused it (needs root: CAP_SYS_ADMIN)"
				       : "the kernel refused it";
		m->pt_on = 0;
		tfs_log(m->log, "--passthrough on: %s (%s); checkpoint files go through the daemon",
			m->pt_note, f->path);
		return -1;
	}
	return id;
}

int32_t tfs_pt_open(struct tfs_mount *m, fuse_req_t req, uint32_t file)
{
	int32_t id;

	pthread_mutex_lock(&m->pt_lock);
	if (!m->pt_on) {
		pthread_mutex_unlock(&m->pt_lock);
		return 0;
	}
	id = m->pt_id[file];
	if (id == 0)
		id = m->pt_id[file] = pt_register(m, req, tfs_catalog_file(m->cat, file));
	pthread_mutex_unlock(&m->pt_lock);
	return id > 0 ? id : 0;
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
