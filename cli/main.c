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
#include <sys/resource.h>
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
		"Shows a checkpoint (safetensors: one file, sharded with an index, or a diffusers folder;\n"
		"GGUF: one file or a split set) as a read-only tree of tensor files, or loads its tensors.\n"
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
	fprintf(f, "usage: tensorfs ls [OPTIONS] CKPT\n\n"
		   "Prints one line per tensor: name, dtype, shape, bytes, shard file. Reads headers only.\n"
		   "Shapes are in numpy order (GGUF stores them fastest-first); dtypes of GGUF files are\n"
		   "ggml's type names (F32, BF16, Q4_K, IQ4_XS, ...). CKPT may be a URL (see\n"
		   "`tensorfs mount --help`).\n\n"
		   "options:\n"
		   "      --metadata          print the key/value metadata of every file as JSON instead:\n"
		   "                          GGUF key/values (arrays such as the tokenizer vocabulary\n"
		   "                          included) and safetensors' __metadata__, keyed by file (as\n"
		   "                          .tensorfs/metadata.json)\n"
		   TFS_CLI_REMOTE_USAGE
		   "  -h, --help              this text\n");
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
		"      --view raw|npy      raw (default): a tensor file holds the tensor's bytes; npy:\n"
		"                          NAME.npy with an NPY header first, for numpy.load(mmap_mode=\"r\")\n"
		"                          (BF16, F8, F4/F6 and ggml blocks as unsigned-int stand-ins,\n"
		"                          named in the user.tensorfs.npy xattr)\n"
		"      --kernel-copy one|two  one (default): reads of tensor files go straight to the\n"
		"                          reader's buffer (FOPEN_DIRECT_IO; shared mmap kept by\n"
		"                          FUSE_DIRECT_IO_ALLOW_MMAP, else falls back to two); two: through\n"
		"                          the mount's page cache, so re-reads can be served by the kernel.\n"
		"                          Checkpoint files (shards) use the page cache, unless:\n"
		"      --passthrough auto|off  auto (default): a checkpoint file (not a tensor file)\n"
		"                          the page cache holds in full when opened uses the kernel's FUSE\n"
		"                          passthrough (root, kernel 6.9+): reads and mmap go to the shard\n"
		"                          itself; a handle opened before the shard changes then sees the\n"
		"                          change as a direct reader would, instead of EIO. Falls back to\n"
		"                          the daemon (stats say why). off: never\n"
		"      --profile-dir DIR|off  where the learned warm-up order of each checkpoint lives:\n"
		"                          the mount records the order tensors are first read and the\n"
		"                          next mount's warm-up follows it (default ~/.cache/tensorfs/\n"
		"                          profiles, or /var/cache/tensorfs/profiles without $HOME)\n"
		"      --log FILE          append the log to FILE (default: stderr with -f, else syslog)\n"
		"      --stats-json FILE   write the final stats as JSON to FILE at unmount\n"
		TFS_CLI_REMOTE_USAGE
		"  -h, --help              this text\n"
		"\n"
		"CKPT is a .safetensors or .gguf file (a split set by its first part), a folder holding a\n"
		"checkpoint, or a URL: https://host/path/model.safetensors,\n"
		"a folder URL ending in '/' (https://huggingface.co/ORG/REPO/resolve/main/), or\n"
		"s3://bucket/prefix/.\n");
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
	enum { O_HEADER = 256, O_S3_ENDPOINT };
	static const struct option lopts[] = { { "help", no_argument, NULL, 'h' },
		{ "metadata", no_argument, NULL, 'm' },
		{ "header", required_argument, NULL, O_HEADER },
		{ "s3-endpoint", required_argument, NULL, O_S3_ENDPOINT }, { 0 } };
	struct tfs_catalog *cat;
	struct tfs_error err;
	int c, rc, meta = 0;

	while ((c = getopt_long(argc, argv, "+h", lopts, NULL)) != -1) {
		if (c == 'h') {
			usage_ls(stdout);
			return 0;
		}
		if (c == O_HEADER || c == O_S3_ENDPOINT) {
			rc = c == O_HEADER ? tfs_cli_add_header(optarg) : tfs_cli_set_s3_endpoint(optarg);
			if (rc)
				return rc;
			continue;
		}
		if (c == 'm') {
			meta = 1;
			continue;
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
	if (meta) {
		puts(tfs_catalog_metadata_json(cat));
		tfs_catalog_close(cat);
		return 0;
	}
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
	int foreground, debug, splice, npy;
	int kernel_copy;           /* 1 or 2 (--kernel-copy) */
	int passthrough;           /* --passthrough: TFS_PT_* of fs/mount.h */
	const char *profile_dir;   /* --profile-dir, "off", or NULL: the default */
	char profile[PATH_MAX];    /* the learned warm-up order file of this checkpoint, or "" */
	unsigned fuse_threads;
	uint64_t kernel_ra;        /* bytes; the mount's bdi read_ahead_kb is set from it */
	char fuse_o[1024];
	const char *log_path, *stats_path;
	struct tfs_engine_opts eng;
	char ckpt[PATH_MAX], mnt[PATH_MAX];
};

/* 1 when `path` is `dir` or lies inside it (both resolved, without a trailing '/'). */
static int path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* A mount that hides the checkpoint from the daemon makes every read fail (files are opened when
 * first read): a mount point at or above the checkpoint (a folder, or a single file's folder), or
 * inside a checkpoint folder. -1 (said on stderr) when that is so. */
static int refuse_overlap(const char *ckpt, const char *mnt)
{
	struct stat st;
	int is_dir = stat(ckpt, &st) == 0 && S_ISDIR(st.st_mode);

	if (path_within(ckpt, mnt) || (is_dir && path_within(mnt, ckpt))) {
		fprintf(stderr, "tensorfs: mount point %s %s the checkpoint %s: the mount would hide "
			"the files it serves; choose a mount point outside it\n", mnt,
			strcmp(mnt, ckpt) == 0 ? "is" : path_within(ckpt, mnt) ? "contains" : "is inside",
			ckpt);
		return -1;
	}
	return 0;
}

/* Parses mount's options; returns 0, or the exit code to leave with (0 for --help). */
static int parse_mount_opts(int argc, char **argv, struct mount_opts *o, int *done)
{
	struct stat st;
	enum { O_THREADS = 256, O_BLOCK, O_CACHE, O_RA, O_STRATEGY, O_LOG, O_STATS, O_FTHREADS, O_KRA,
	       O_SPLICE, O_DIRECT_IO, O_VIEW, O_HEADER, O_S3_ENDPOINT, O_KCOPY, O_PROFILE, O_PASSTHRU };
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
		{ "view", required_argument, NULL, O_VIEW },
		{ "header", required_argument, NULL, O_HEADER },
		{ "s3-endpoint", required_argument, NULL, O_S3_ENDPOINT },
		{ "kernel-copy", required_argument, NULL, O_KCOPY },
		{ "passthrough", required_argument, NULL, O_PASSTHRU },
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
	o->passthrough = TFS_PT_AUTO;
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
			/* 0 is not "the default": a size of nothing is a mistake to name. */
			if (tfs_parse_size(optarg, &v) < 0 || (v == 0 && c != O_RA)) {
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
		case O_HEADER:
		case O_S3_ENDPOINT: {
			int rc = c == O_HEADER ? tfs_cli_add_header(optarg)
					       : tfs_cli_set_s3_endpoint(optarg);
			if (rc)
				return rc;
			break;
		}
		case O_VIEW:
			if (strcmp(optarg, "raw") != 0 && strcmp(optarg, "npy") != 0) {
				fprintf(stderr, "tensorfs: --view %s: expected raw or npy\n", optarg);
				return 2;
			}
			o->npy = strcmp(optarg, "npy") == 0;
			break;
		case O_KCOPY:
			if (strcmp(optarg, "one") != 0 && strcmp(optarg, "two") != 0) {
				fprintf(stderr, "tensorfs: --kernel-copy %s: expected one or two\n", optarg);
				return 2;
			}
			o->kernel_copy = strcmp(optarg, "one") == 0 ? 1 : 2;
			break;
		case O_PASSTHRU:
			if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "off") != 0) {
				fprintf(stderr, "tensorfs: --passthrough %s: expected auto or off\n", optarg);
				return 2;
			}
			o->passthrough = strcmp(optarg, "auto") == 0 ? TFS_PT_AUTO : TFS_PT_OFF;
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
	if (tfs_cli_is_url(argv[optind])) {
		if (strlen(argv[optind]) >= sizeof(o->ckpt)) {
			fprintf(stderr, "tensorfs: %.64s...: URL too long\n", argv[optind]);
			return 2;
		}
		strcpy(o->ckpt, argv[optind]);
	} else if (!realpath(argv[optind], o->ckpt)) {
		fprintf(stderr, "tensorfs: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (!realpath(argv[optind + 1], o->mnt) || stat(o->mnt, &st) < 0) {
		if (errno == ENOTCONN) /* a FUSE daemon died and left its mount behind */
			fprintf(stderr, "tensorfs: mount point %s: a dead mount is still there (its "
				"daemon is gone); clear it with: fusermount3 -u %s\n", argv[optind + 1],
				argv[optind + 1]);
		else
			fprintf(stderr, "tensorfs: mount point %s: %s\n", argv[optind + 1],
				strerror(errno));
		return 1;
	}
	if (refuse_overlap(o->ckpt, o->mnt) < 0)
		return 1;
	/* Found now, not at unmount when nothing can be done about it any more. */
	if (o->stats_path) {
		FILE *f = fopen(o->stats_path, "ae"); /* created now, written at unmount */

		if (!f) {
			fprintf(stderr, "tensorfs: --stats-json %s: cannot write there: %s\n",
				o->stats_path, strerror(errno));
			return 1;
		}
		fclose(f);
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
/* mountinfo writes a space, tab, newline and backslash in paths as \040, \011, \012, \134. */
static void unescape_mountinfo(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static void find_bdi_readahead(struct tfs_mount *m, const char *mnt, uint64_t bytes)
{
	unsigned major, minor, bdi_major = 0, bdi_minor = 0, found = 0;
	char line[8192], path[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor, path) != 3)
			continue;
		unescape_mountinfo(path);
		if (strcmp(path, mnt) == 0 && strstr(line, " - fuse.tensorfs ")) {
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
	struct tfs_mount m = { .index_lock = PTHREAD_MUTEX_INITIALIZER,
			       .stats_lock = PTHREAD_MUTEX_INITIALIZER,
			       .pt_lock = PTHREAD_MUTEX_INITIALIZER };
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
	if (tfs_tree_build(cat, o->npy ? ".npy" : NULL, &m.tree, &err) < 0)
		goto fail_err;
	m.uid = getuid();
	m.gid = getgid();
	m.timeout = 86400.0;
	m.splice = o->splice;
	m.npy = o->npy;
	m.kernel_copy = o->kernel_copy;
	m.passthrough = o->passthrough;
	if (m.splice)
		raise_pipe_max(m.log);
	m.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	m.xxh = calloc(tfs_catalog_tensor_count(cat) + 1, sizeof(*m.xxh));
	m.xxh_state = calloc(tfs_catalog_tensor_count(cat) + 1, sizeof(*m.xxh_state));
	m.pt_id = calloc(tfs_catalog_file_count(cat) + 1, sizeof(*m.pt_id));
	m.pt_live = calloc(tfs_catalog_file_count(cat) + 1, sizeof(*m.pt_live));
	if (!m.xxh || !m.xxh_state || !m.pt_id || !m.pt_live) {
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
		int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
		struct rlimit rl = { 0, 0 };

		/* libfuse blames /dev/fuse whatever failed: name the real cause when it is ours. */
		if (probe < 0 && errno == EMFILE) {
			getrlimit(RLIMIT_NOFILE, &rl);
			snprintf(msg, sizeof(msg), "cannot mount at %s: this process has no file "
				 "descriptor left (limit %llu; raise it with ulimit -n)", o->mnt,
				 (unsigned long long)rl.rlim_cur);
		} else {
			snprintf(msg, sizeof(msg), "cannot mount at %s (is /dev/fuse usable, "
				 "fusermount3 installed, the mount point empty?)", o->mnt);
		}
		if (probe >= 0)
			close(probe);
		goto fail_msg;
	}
	mounted = 1;
	find_bdi_readahead(&m, o->mnt, o->kernel_ra);
	/* A file that changes is refused at once and its pages leave the kernel's cache (inval.c);
	 * without a watch, the per-read checks still refuse it, but pages already cached stay. */
	m.se = se;
	if (tfs_engine_watch(m.engine, tfs_mount_file_changed, &m, &err) < 0)
		fprintf(stderr, "tensorfs: warning: %s; pages already read stay cached if a checkpoint "
			"file changes\n", err.msg);
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
	if (m.engine)
		tfs_engine_unwatch(m.engine); /* it notifies the session: stop it first */
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
	free(m.stats_snap);
	free(m.xxh);
	free(m.xxh_state);
	free(m.pt_id);
	free(m.pt_live);
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

/* A checkpoint folder may hold thousands of files: take every descriptor the hard limit allows
 * (the engine still keeps only a quarter of the soft limit open: loader/io/srccache.h). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	raise_nofile();
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
