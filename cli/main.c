/*
 * main.c - the `tensorfs` command: `ls` (the catalog as a table), `mount` (the FUSE daemon) and the
 * other subcommands. Everything that can fail is checked before the mount exists, so a bad
 * checkpoint or option is an error on the terminal, never a half-made mount.
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cmds.h"
#include "log.h"
#include "mount.h"

static void usage_main(FILE *f)
{
	fprintf(f,
		"usage: tensorfs COMMAND [OPTIONS] ...\n"
		"\n"
		"Shows a safetensors checkpoint (single file, sharded with an index, or a diffusers folder)\n"
		"as a read-only tree of tensor files, or loads its tensors.\n"
		"\n"
		"commands:\n"
		"  ls CKPT              table of tensors: name, dtype, shape, bytes, shard (no mount needed)\n"
		"  mount CKPT MNT       mount CKPT read-only at MNT (unmount: fusermount3 -u MNT)\n"
		"  load CKPT            load tensors to a device (cuda:N or cpu) and report\n"
		"\n"
		"Run `tensorfs COMMAND --help` for a command's options.\n");
}

static void usage_ls(FILE *f)
{
	fprintf(f, "usage: tensorfs ls [--help] CKPT\n\n"
		   "Prints one line per tensor: name, dtype, shape, bytes, shard file. Reads headers only.\n");
}

static void usage_mount(FILE *f)
{
	fprintf(f,
		"usage: tensorfs mount [OPTIONS] CKPT MOUNTPOINT\n"
		"\n"
		"Mounts CKPT read-only at MOUNTPOINT: every tensor is a file (dotted names become folders),\n"
		"other checkpoint files pass through, .tensorfs/ holds index.json and live stats.\n"
		"Without -f, returns once the mount is ready and keeps serving in the background.\n"
		"\n"
		"options:\n"
		"  -f, --foreground        stay in the foreground (log to stderr)\n"
		"  -d, --debug             FUSE debug output (implies -f)\n"
		"  -o OPT[,OPT...]         FUSE mount options, e.g. allow_other\n"
		"      --threads N         engine reader threads (default: from the core count)\n"
		"      --fuse-threads N    FUSE request threads (default 16)\n"
		"      --block-size SIZE   cache block size, power of two >= 4K (default 2M)\n"
		"      --cache-size SIZE   cache byte budget, e.g. 512M, 8G (default: a fraction of RAM)\n"
		"      --readahead SIZE    prefetch window for sequential readers (default: engine's)\n"
		"      --kernel-readahead SIZE  the kernel's readahead for this mount (default 2M; the\n"
		"                          kernel default of 128K caps streaming reads at 128K requests)\n"
		"      --strategy S        lazy | eager | streaming | auto (default auto)\n"
		"      --splice on|off     reply to reads whose bytes are in the kernel page cache by\n"
		"                          splicing the shard (default on; as root this raises\n"
		"                          fs.pipe-max-size to 2M so 1 MiB replies fit one pipe)\n"
		"      --direct-io on|off  read cache blocks with O_DIRECT where the filesystem allows\n"
		"                          (default on: the disk DMAs into the cache, no page-cache copy)\n"
		"      --kernel-copy one|two  one (default): reads of tensor files go straight to the\n"
		"                          reader's buffer (FOPEN_DIRECT_IO; shared mmap kept by\n"
		"                          FUSE_DIRECT_IO_ALLOW_MMAP, else falls back to two); two: through\n"
		"                          the mount's page cache, so re-reads can be served by the kernel.\n"
		"                          Checkpoint files (shards) always use the page cache\n"
		"      --profile-dir DIR|off  where the learned warm-up order of each checkpoint lives:\n"
		"                          the mount records the order tensors are first read and the\n"
		"                          next mount's warm-up follows it (default ~/.cache/tensorfs/\n"
		"                          profiles, or /var/cache/tensorfs/profiles without $HOME)\n"
		"      --log FILE          append the log to FILE (default: stderr with -f, else syslog)\n"
		"      --stats-json FILE   write the final stats as JSON to FILE at unmount\n"
		"  -h, --help              this text\n");
}

/* ---- ls ------------------------------------------------------------------------------------- */

/* A name for one table cell: control bytes and '%' as %XX (as in the tree), so a hostile name can
 * neither break the table's one-line-per-tensor shape nor drive the terminal. Cut to fit buf. */
static const char *printable(const char *s, char *buf, size_t cap)
{
	size_t n = 0;

	for (; *s && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '%')
			n += (size_t)snprintf(buf + n, cap - n, "%%%02X", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return buf;
}

static int cmd_ls(int argc, char **argv)
{
	static const struct option lopts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	struct tfs_catalog *cat;
	struct tfs_error err;
	int c;

	while ((c = getopt_long(argc, argv, "+h", lopts, NULL)) != -1) {
		if (c == 'h') {
			usage_ls(stdout);
			return 0;
		}
		usage_ls(stderr);
		return 2;
	}
	if (argc - optind != 1) {
		usage_ls(stderr);
		return 2;
	}
	if (tfs_catalog_open(argv[optind], &cat, &err) < 0) {
		fprintf(stderr, "tensorfs: %s\n", err.msg);
		return 1;
	}
	fputs(tfs_catalog_warnings(cat), stderr);
	printf("%-60s %-8s %-20s %14s  %s\n", "NAME", "DTYPE", "SHAPE", "BYTES", "SHARD");
	for (size_t i = 0; i < tfs_catalog_tensor_count(cat); i++) {
		const struct tfs_tensor *t = tfs_catalog_tensor(cat, i);
		char shape[256], name[4096];
		size_t n = 0;
		shape[0] = '\0';
		for (uint32_t d = 0; d < t->ndim && n < sizeof(shape); d++)
			n += (size_t)snprintf(shape + n, sizeof(shape) - n, d ? ",%" PRIu64 : "%" PRIu64,
					      t->shape[d]);
		printf("%-60s %-8s %-20s %14" PRIu64 "  %s\n", printable(t->key, name, sizeof(name)),
		       tfs_dtype_name(t->dtype), t->ndim ? shape : "()", t->length,
		       tfs_catalog_file(cat, t->file)->rel);
	}
	/* The summary goes to stderr so stdout stays one line per tensor (plus the header). */
	fprintf(stderr, "%zu tensors, %" PRIu64 " bytes, %zu files, layout %s\n",
		tfs_catalog_tensor_count(cat), tfs_catalog_tensor_bytes(cat),
		tfs_catalog_file_count(cat), tfs_catalog_layout(cat));
	tfs_catalog_close(cat);
	return 0;
}

/* ---- mount ---------------------------------------------------------------------------------- */

struct mount_opts {
	int foreground, debug, splice;
	int kernel_copy;           /* 1 or 2 (--kernel-copy) */
	const char *profile_dir;   /* --profile-dir, "off", or NULL: the default */
	char profile[PATH_MAX];    /* the learned warm-up order file of this checkpoint, or "" */
	unsigned fuse_threads;
	uint64_t kernel_ra;        /* bytes; the mount's bdi read_ahead_kb is set from it */
	char fuse_o[1024];
	const char *log_path, *stats_path;
	struct tfs_engine_opts eng;
	char ckpt[PATH_MAX], mnt[PATH_MAX];
};

/* Parses mount's options; returns 0, or the exit code to leave with (0 for --help). */
static int parse_mount_opts(int argc, char **argv, struct mount_opts *o, int *done)
{
	enum { O_THREADS = 256, O_BLOCK, O_CACHE, O_RA, O_STRATEGY, O_LOG, O_STATS, O_FTHREADS, O_KRA,
	       O_SPLICE, O_DIRECT_IO, O_KCOPY, O_PROFILE };
	static const struct option lopts[] = {
		{ "foreground", no_argument, NULL, 'f' }, { "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' }, { "threads", required_argument, NULL, O_THREADS },
		{ "block-size", required_argument, NULL, O_BLOCK },
		{ "cache-size", required_argument, NULL, O_CACHE },
		{ "readahead", required_argument, NULL, O_RA },
		{ "strategy", required_argument, NULL, O_STRATEGY },
		{ "log", required_argument, NULL, O_LOG },
		{ "stats-json", required_argument, NULL, O_STATS },
		{ "fuse-threads", required_argument, NULL, O_FTHREADS },
		{ "kernel-readahead", required_argument, NULL, O_KRA },
		{ "splice", required_argument, NULL, O_SPLICE },
		{ "direct-io", required_argument, NULL, O_DIRECT_IO },
		{ "kernel-copy", required_argument, NULL, O_KCOPY },
		{ "profile-dir", required_argument, NULL, O_PROFILE }, { 0 } };
	uint64_t v;
	char *end;
	int c;

	*done = 0;
	tfs_engine_opts_init(&o->eng);
	o->fuse_threads = 16;
	o->kernel_ra = 2 << 20;
	o->splice = 1;
	o->kernel_copy = 1;
	while ((c = getopt_long(argc, argv, "+fdho:", lopts, NULL)) != -1) {
		switch (c) {
		case 'f': o->foreground = 1; break;
		case 'd': o->debug = o->foreground = 1; break;
		case 'h': usage_mount(stdout); *done = 1; return 0;
		case 'o':
			if (strlen(o->fuse_o) + strlen(optarg) + 2 > sizeof(o->fuse_o)) {
				fprintf(stderr, "tensorfs: -o options too long\n");
				return 2;
			}
			strcat(strcat(o->fuse_o, ","), optarg);
			break;
		case O_THREADS:
		case O_FTHREADS:
			v = strtoull(optarg, &end, 10);
			if (*end || v == 0 || v > 1024) {
				fprintf(stderr, "tensorfs: --%s %s: expected a number from 1 to 1024\n",
					c == O_THREADS ? "threads" : "fuse-threads", optarg);
				return 2;
			}
			if (c == O_THREADS)
				o->eng.threads = (unsigned)v;
			else
				o->fuse_threads = (unsigned)v;
			break;
		case O_KRA:
			if (tfs_parse_size(optarg, &o->kernel_ra) < 0 || o->kernel_ra > (1ULL << 30)) {
				fprintf(stderr, "tensorfs: --kernel-readahead %s: not a size up to 1G\n", optarg);
				return 2;
			}
			break;
		case O_BLOCK: case O_CACHE: case O_RA:
			if (tfs_parse_size(optarg, &v) < 0) {
				fprintf(stderr, "tensorfs: --%s %s: not a size (e.g. 4096, 2M, 8G)\n",
					c == O_BLOCK ? "block-size" : c == O_CACHE ? "cache-size" : "readahead",
					optarg);
				return 2;
			}
			*(c == O_BLOCK ? &o->eng.block_size : c == O_CACHE ? &o->eng.cache_bytes
									     : &o->eng.readahead_bytes) = v;
			break;
		case O_STRATEGY:
			if (tfs_strategy_parse(optarg, &o->eng.strategy) < 0) {
				fprintf(stderr, "tensorfs: --strategy %s: expected lazy, eager, streaming or "
					"auto\n", optarg);
				return 2;
			}
			break;
		case O_SPLICE:
		case O_DIRECT_IO:
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
				fprintf(stderr, "tensorfs: --%s %s: expected on or off\n",
					c == O_SPLICE ? "splice" : "direct-io", optarg);
				return 2;
			}
			if (c == O_SPLICE)
				o->splice = strcmp(optarg, "on") == 0;
			else
				o->eng.buffered_io = strcmp(optarg, "off") == 0;
			break;
		case O_KCOPY:
			if (strcmp(optarg, "one") != 0 && strcmp(optarg, "two") != 0) {
				fprintf(stderr, "tensorfs: --kernel-copy %s: expected one or two\n", optarg);
				return 2;
			}
			o->kernel_copy = strcmp(optarg, "one") == 0 ? 1 : 2;
			break;
		case O_PROFILE:
			if (!*optarg) {
				fprintf(stderr, "tensorfs: --profile-dir: empty (a folder, or off)\n");
				return 2;
			}
			o->profile_dir = optarg;
			break;
		case O_LOG: o->log_path = optarg; break;
		case O_STATS: o->stats_path = optarg; break;
		default: usage_mount(stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		usage_mount(stderr);
		return 2;
	}
	if (!realpath(argv[optind], o->ckpt)) {
		fprintf(stderr, "tensorfs: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (!realpath(argv[optind + 1], o->mnt)) {
		fprintf(stderr, "tensorfs: mount point %s: %s\n", argv[optind + 1], strerror(errno));
		return 1;
	}
	return 0;
}

/* mkdir -p; 0 or -errno. */
static int make_dirs(const char *path)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Chooses the learned-order file of this checkpoint: DIR/<XXH3 of its real path>.order, in
 * --profile-dir or the default folder (created). Leaves o->profile empty when off or impossible,
 * saying why in the log. */
static void choose_profile(struct mount_opts *o, struct tfs_log *log)
{
	const char *home = getenv("HOME");
	char dir[PATH_MAX];
	int rc;

	o->profile[0] = '\0';
	if (o->profile_dir && strcmp(o->profile_dir, "off") == 0)
		return;
	if (o->profile_dir)
		snprintf(dir, sizeof(dir), "%s", o->profile_dir);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.cache/tensorfs/profiles", home);
	else
		snprintf(dir, sizeof(dir), "/var/cache/tensorfs/profiles");
	rc = make_dirs(dir);
	if (rc < 0) {
		tfs_log(log, "--profile-dir %s: %s (no learned warm-up order)", dir, strerror(-rc));
		return;
	}
	if (snprintf(o->profile, sizeof(o->profile), "%s/%016llx.order", dir,
		     (unsigned long long)XXH3_64bits(o->ckpt, strlen(o->ckpt))) >= (int)sizeof(o->profile))
		o->profile[0] = '\0';
	o->eng.profile_path = o->profile[0] ? o->profile : NULL;
}

static void write_stats_file(struct tfs_mount *m, const char *path)
{
	char *text;
	size_t len;
	FILE *f;

	if (tfs_virt_stats(m, &text, &len) < 0)
		return;
	f = fopen(path, "we");
	if (f) {
		fwrite(text, 1, len, f);
		fclose(f);
	} else {
		tfs_log(m->log, "--stats-json %s: %s", path, strerror(errno));
	}
	free(text);
}

/*
 * The kernel's readahead window for this mount bounds how large and how many buffered read
 * requests reach us (docs/FUSE-NOTES.md 2). It lives in /sys/class/bdi/MAJ:MIN/read_ahead_kb,
 * and the kernel lowers it while it processes our INIT reply, so it is written later, by the first
 * request after INIT (ops.c, tfs_tune_readahead). Here we only find the file: the mount's device
 * number comes from /proc/self/mountinfo, since stat()ing our own mount point would wait on us.
 */
static void find_bdi_readahead(struct tfs_mount *m, const char *mnt, uint64_t bytes)
{
	unsigned major, minor, bdi_major = 0, bdi_minor = 0, found = 0;
	char line[8192], path[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor, path) == 3 &&
		    strcmp(path, mnt) == 0 && strstr(line, " - fuse.tensorfs ")) {
			/* the last match is the newest mount at that path: ours */
			bdi_major = major;
			bdi_minor = minor;
			found = 1;
		}
	}
	fclose(f);
	if (!found) {
		tfs_log(m->log, "%s: not in /proc/self/mountinfo: kernel readahead left as is", mnt);
		return;
	}
	snprintf(m->ra_path, sizeof(m->ra_path), "/sys/class/bdi/%u:%u/read_ahead_kb", bdi_major,
		 bdi_minor);
	m->ra_kb = bytes / 1024;
}

/* A spliced 1 MiB reply needs a pipe a little over 1 MiB, the default pipe-max-size: raise it (as
 * root) or libfuse quietly copies every full-size reply instead. */
static void raise_pipe_max(struct tfs_log *log)
{
	const unsigned long want = 2UL << 20;
	unsigned long cur = 0;
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");

	if (f) {
		if (fscanf(f, "%lu", &cur) != 1)
			cur = 0;
		fclose(f);
	}
	if (cur >= want)
		return;
	f = fopen("/proc/sys/fs/pipe-max-size", "we");
	if (f && fprintf(f, "%lu\n", want) < 0)
		cur = want; /* remembered as a failure below, after closing */
	if (!f || fclose(f) != 0 || cur == want) {
		tfs_log(log, "--splice: cannot raise /proc/sys/fs/pipe-max-size to %lu (%s): full-size "
			"replies will be copied", want, strerror(errno));
		return;
	}
	tfs_log(log, "--splice: raised /proc/sys/fs/pipe-max-size from %lu to %lu", cur, want);
}

/* Tells the waiting parent how the mount went: "" for ready, else the error line. */
static void report(int fd, const char *msg)
{
	if (fd < 0) {
		if (msg[0])
			fprintf(stderr, "tensorfs: %s\n", msg);
		return;
	}
	if (write(fd, msg, strlen(msg) + 1) < 0) {
		/* the parent is gone; nothing else to tell */
	}
	close(fd);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Opens everything, mounts, serves until unmounted or signalled. ready_fd: the parent's pipe
 * (daemon mode) or -1. Returns the exit code. */
static int run_mount(struct mount_opts *o, int ready_fd, const char *argv0)
{
	struct tfs_mount m = { .index_lock = PTHREAD_MUTEX_INITIALIZER };
	struct tfs_catalog *cat = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *lcfg = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct tfs_error err = { "" };
	char fuse_o[1200], msg[TFS_ERR_MAX + 2 * PATH_MAX];
	int64_t t0 = now_ns();
	struct stat st;
	int rc = 1, mounted = 0;

	pthread_mutex_init(&m.fh_lock, NULL);
	tfs_list_init(&m.fh_list);
	m.log = tfs_log_open(o->log_path, 1);
	if (!m.log) {
		snprintf(msg, sizeof(msg), "--log %s: %s", o->log_path, strerror(errno));
		report(ready_fd, msg);
		return 1;
	}
	if (stat(o->mnt, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(msg, sizeof(msg), "mount point %s: not a directory", o->mnt);
		goto fail_msg;
	}
	if (tfs_catalog_open(o->ckpt, &cat, &err) < 0)
		goto fail_err;
	m.cat = cat;
	if (tfs_tree_build(cat, &m.tree, &err) < 0)
		goto fail_err;
	m.uid = getuid();
	m.gid = getgid();
	m.timeout = 86400.0;
	m.splice = o->splice;
	m.kernel_copy = o->kernel_copy;
	if (m.splice)
		raise_pipe_max(m.log);
	m.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	m.xxh = calloc(tfs_catalog_tensor_count(cat) + 1, sizeof(*m.xxh));
	m.xxh_state = calloc(tfs_catalog_tensor_count(cat) + 1, sizeof(*m.xxh_state));
	if (!m.xxh || !m.xxh_state) {
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail_msg;
	}
	o->eng.progress_fd = o->foreground ? 2 : -1;
	choose_profile(o, m.log);
	if (tfs_engine_open(cat, &o->eng, &m.engine, &err) < 0)
		goto fail_err;

	snprintf(fuse_o, sizeof(fuse_o), "ro,fsname=tensorfs,subtype=tensorfs,default_permissions%s",
		 o->fuse_o);
	if (fuse_opt_add_arg(&args, argv0) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, fuse_o) || (o->debug && fuse_opt_add_arg(&args, "-d"))) {
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail_msg;
	}
	se = fuse_session_new(&args, tfs_ops(), sizeof(struct fuse_lowlevel_ops), &m);
	if (!se) {
		snprintf(msg, sizeof(msg), "cannot start a FUSE session with -o %s", fuse_o);
		goto fail_msg;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		snprintf(msg, sizeof(msg), "cannot install signal handlers");
		goto fail_msg;
	}
	if (fuse_session_mount(se, o->mnt) != 0) {
		snprintf(msg, sizeof(msg), "cannot mount at %s (is /dev/fuse usable, fusermount3 "
			 "installed, the mount point empty?)", o->mnt);
		goto fail_msg;
	}
	mounted = 1;
	find_bdi_readahead(&m, o->mnt, o->kernel_ra);
	/* Warnings reach the terminal in both modes; the daemon's log goes to syslog or --log. */
	fputs(tfs_catalog_warnings(cat), stderr);
	fputs(tfs_tree_warnings(m.tree), stderr);
	if (ready_fd >= 0) {
		int devnull = open("/dev/null", O_RDWR);
		report(ready_fd, "");
		ready_fd = -1;
		tfs_log_detach(m.log);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
			if (devnull > 2)
				close(devnull);
		}
		if (chdir("/") < 0) {
			/* relative paths were resolved already; nothing depends on the cwd */
		}
	}
	tfs_log(m.log, "mounted %s at %s: %zu tensors, %zu files, layout %s, in %.1f ms", o->ckpt,
		o->mnt, tfs_catalog_tensor_count(cat), tfs_catalog_file_count(cat),
		tfs_catalog_layout(cat), (double)(now_ns() - t0) / 1e6);
	lcfg = fuse_loop_cfg_create();
	if (lcfg) {
		fuse_loop_cfg_set_max_threads(lcfg, o->fuse_threads);
		fuse_loop_cfg_set_clone_fd(lcfg, 0);
	}
	/* libfuse returns the number of the signal (SIGTERM, SIGINT, SIGHUP) that stopped the loop:
	 * a requested stop is a clean exit. Errors are negative. */
	rc = fuse_session_loop_mt(se, lcfg) < 0 ? 1 : 0;
	tfs_log(m.log, "unmounting %s", o->mnt);
	if (o->stats_path)
		write_stats_file(&m, o->stats_path);
	goto out;

fail_err:
	snprintf(msg, sizeof(msg), "%s", err.msg);
fail_msg:
	report(ready_fd, msg);
	ready_fd = -1;
	rc = 1;
out:
	if (lcfg)
		fuse_loop_cfg_destroy(lcfg);
	if (se) {
		if (mounted)
			fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
	fuse_opt_free_args(&args);
	tfs_ops_release_all(&m);   /* files still open when the mount went away */
	pthread_mutex_destroy(&m.fh_lock);
	tfs_engine_close(m.engine);
	free(m.index_json);
	free(m.xxh);
	free(m.xxh_state);
	tfs_tree_free(m.tree);
	tfs_catalog_close(cat);
	tfs_log_close(m.log);
	return rc;
}

static int cmd_mount(int argc, char **argv)
{
	struct mount_opts o = { 0 };
	char msg[TFS_ERR_MAX + 2 * PATH_MAX];
	int done, rc, p[2];
	ssize_t n;
	pid_t pid;

	rc = parse_mount_opts(argc, argv, &o, &done);
	if (rc || done)
		return rc;
	if (o.foreground)
		return run_mount(&o, -1, argv[0]);
	/* Daemon mode: fork before anything starts a thread; the child reports "ready" or the error
	 * through a pipe, so this process can exit only once the mount is usable. */
	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "tensorfs: cannot start the daemon: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		_exit(run_mount(&o, p[1], argv[0]));
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	if (n <= 0) {
		fprintf(stderr, "tensorfs: the mount daemon exited before the mount was ready\n");
		return 1;
	}
	msg[n] = '\0';
	if (msg[0]) {
		fprintf(stderr, "tensorfs: %s\n", msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage_main(stdout);
		return 0;
	}
	if (strcmp(argv[1], "ls") == 0)
		return cmd_ls(argc - 1, argv + 1);
	if (strcmp(argv[1], "mount") == 0)
		return cmd_mount(argc - 1, argv + 1);
	if (strcmp(argv[1], "load") == 0)
		return tfs_cmd_load(argc - 1, argv + 1);
	fprintf(stderr, "tensorfs: unknown command '%s' (try tensorfs --help)\n", argv[1]);
	return 2;
}
