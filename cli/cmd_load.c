/*
 * cmd_load.c - `tensorfs load`: the command-line front end of device placement (tfs_load).
 *
 * Opens the catalog and an engine (lazy: a load reads exactly the bytes it selected, so an eager
 * warm-up would only read more), loads the selected tensors to a GPU or host memory, prints the
 * report, and with --verify checks every tensor against the file. main.c dispatches here.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "tensorfs.h"

static void usage_load(FILE *f)
{
	fprintf(f,
		"usage: tensorfs load [OPTIONS] CKPT\n"
		"\n"
		"Loads the tensors of CKPT into GPU memory (cuda:N) or host memory (cpu) through the\n"
		"engine's cache, and prints what it did: tensors, bytes, seconds, GB/s, per device.\n"
		"\n"
		"options:\n"
		"      --device DEV        cuda:N, cuda, N or cpu (default cpu): where tensors go\n"
		"      --map MAP.json      device map, {\"module.prefix\": 0 | \"cuda:N\" | \"cpu\" | \"disk\"}:\n"
		"                          the longest key equal to a tensor name or a prefix of it ending\n"
		"                          before '.' or '/' places the tensor; unmatched tensors and\n"
		"                          \"disk\" ones are not loaded (\"\" matches everything)\n"
		"      --select GLOB       load only tensors whose name matches GLOB (repeatable)\n"
		"      --verify            copy every tensor back and compare its XXH3 with the file\n"
		"      --threads N         reader threads of the loader (default 4) and of the engine\n"
		"                          (default: from the core count)\n"
		"      --cache-size SIZE   engine cache budget, e.g. 512M, 8G (default: a fraction of RAM)\n"
		"      --staging SIZE      bytes per staging buffer (default 8M; for a URL the engine's\n"
		"                          block size, 2M: one range request per chunk)\n"
		"      --buffers N         staging buffers in the ring (default 8)\n"
		"      --streams N         CUDA streams per GPU (default 4)\n"
		"      --staging-only      always copy through the staging ring, never straight out of\n"
		"                          the engine's pinned cache blocks or into the tensor itself\n"
		"      --through-cache     read every byte through the engine's cache; by default bytes\n"
		"                          for cpu that the page cache holds, or a URL's, are read past\n"
		"                          it (one copy less, no fresh cache memory to clear)\n"
		"      --json              print the report as JSON instead of text\n"
		TFS_CLI_REMOTE_USAGE
		"  -h, --help              this text\n"
		"\n"
		"CKPT is a .safetensors or .gguf file, a folder holding a checkpoint, or a URL (see\n"
		"`tensorfs mount --help`).\n");
}

struct load_args {
	const char *ckpt, *map;
	const char **globs;
	size_t n_globs;
	int verify, json;
	struct tfs_load_opts lo;
	struct tfs_engine_opts eo;
};

static int parse_count(const char *opt, const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > max || s[0] == '-') {
		fprintf(stderr, "tensorfs load: --%s %s: need a number 1..%u\n", opt, s, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_sz(const char *opt, const char *s, uint64_t *out)
{
	if (tfs_parse_size(s, out) < 0 || *out == 0) {
		fprintf(stderr, "tensorfs load: --%s %s: need a size such as 512K, 64M, 8G\n", opt, s);
		return -EINVAL;
	}
	return 0;
}

/* Returns -1 to go on, or the exit code to leave with (0 after --help, 2 for a usage error). */
static int parse_args(int argc, char **argv, struct load_args *a)
{
	enum { O_DEVICE = 256, O_MAP, O_SELECT, O_VERIFY, O_THREADS, O_CACHE, O_STAGING, O_BUFFERS,
	       O_STREAMS, O_JSON, O_STAGING_ONLY, O_THROUGH_CACHE, O_HEADER, O_S3_ENDPOINT };
	static const struct option lopts[] = {
		{ "device", required_argument, NULL, O_DEVICE },
		{ "map", required_argument, NULL, O_MAP },
		{ "select", required_argument, NULL, O_SELECT },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "cache-size", required_argument, NULL, O_CACHE },
		{ "staging", required_argument, NULL, O_STAGING },
		{ "buffers", required_argument, NULL, O_BUFFERS },
		{ "streams", required_argument, NULL, O_STREAMS },
		{ "json", no_argument, NULL, O_JSON },
		{ "staging-only", no_argument, NULL, O_STAGING_ONLY },
		{ "through-cache", no_argument, NULL, O_THROUGH_CACHE },
		{ "header", required_argument, NULL, O_HEADER },
		{ "s3-endpoint", required_argument, NULL, O_S3_ENDPOINT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct tfs_error err;
	int c, rc = 0;

	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_load(stdout);
			return 0;
		case O_DEVICE:
			rc = tfs_device_parse(optarg, &a->lo.device, &err);
			if (rc < 0) {
				fprintf(stderr, "tensorfs load: %s\n", err.msg);
			} else if (a->lo.device.type == TFS_DEVICE_DISK) {
				fprintf(stderr, "tensorfs load: --device disk would load nothing\n");
				rc = -EINVAL;
			}
			break;
		case O_MAP:
			a->map = optarg;
			break;
		case O_SELECT:
			a->globs[a->n_globs++] = optarg;   /* room for argc globs */
			break;
		case O_VERIFY:
			a->verify = 1;
			break;
		case O_THREADS:
			rc = parse_count("threads", optarg, 256, &a->lo.threads);
			a->eo.threads = a->lo.threads;
			break;
		case O_CACHE:
			rc = parse_sz("cache-size", optarg, &a->eo.cache_bytes);
			break;
		case O_STAGING:
			rc = parse_sz("staging", optarg, &a->lo.staging_bytes);
			break;
		case O_BUFFERS:
			rc = parse_count("buffers", optarg, 1024, &a->lo.staging_buffers);
			break;
		case O_STREAMS:
			rc = parse_count("streams", optarg, 64, &a->lo.streams);
			break;
		case O_JSON:
			a->json = 1;
			break;
		case O_STAGING_ONLY:
			a->lo.staging_only = 1;
			break;
		case O_THROUGH_CACHE:
			a->lo.through_cache = 1;
			break;
		case O_HEADER:
		case O_S3_ENDPOINT:
			if ((c == O_HEADER ? tfs_cli_add_header(optarg)
					   : tfs_cli_set_s3_endpoint(optarg)) != 0)
				return 2;
			break;
		default:
			rc = -EINVAL;
			break;
		}
	}
	if (rc < 0) {
		usage_load(stderr);
		return 2;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "tensorfs load: expected one checkpoint, got %d arguments\n",
			argc - optind);
		usage_load(stderr);
		return 2;
	}
	a->ckpt = argv[optind];
	return -1;
}

/* One line of tensors per dtype; ggml block types say how they arrived (DLPack has no type
 * for them: uint8 rows of one block each). */
static void print_dtypes(const struct tfs_load_result *r, FILE *f)
{
	uint64_t count[TFS_DTYPE_COUNT] = { 0 };

	for (size_t i = 0; i < tfs_load_count(r); i++) {
		const struct tfs_loaded *t = tfs_load_get(r, i);
		if ((unsigned)t->dtype < TFS_DTYPE_COUNT)
			count[t->dtype]++;
	}
	fprintf(f, "  dtypes:");
	for (int d = 0; d < TFS_DTYPE_COUNT; d++) {
		uint32_t be, bb;
		if (!count[d])
			continue;
		fprintf(f, " %s x%" PRIu64, tfs_dtype_name((enum tfs_dtype)d), count[d]);
		if (tfs_dtype_block((enum tfs_dtype)d, &be, &bb))
			fprintf(f, " (as uint8 [n_blocks, %u]: %u values a block)", bb, be);
	}
	fprintf(f, "\n");
}

int tfs_cmd_load(int argc, char **argv)
{
	struct load_args a = { 0 };
	struct tfs_catalog *cat = NULL;
	struct tfs_engine *e = NULL;
	struct tfs_selection *sel = NULL;
	struct tfs_load_result *r = NULL;
	struct tfs_error err;
	int code = 1;

	a.globs = calloc((size_t)argc + 1, sizeof(*a.globs));
	if (!a.globs) {
		fprintf(stderr, "tensorfs load: out of memory\n");
		return 1;
	}
	tfs_load_opts_init(&a.lo);
	tfs_engine_opts_init(&a.eo);
	a.eo.strategy = TFS_STRATEGY_LAZY;
	code = parse_args(argc, argv, &a);
	if (code >= 0)
		goto out;
	code = 1;
	if (tfs_catalog_open(a.ckpt, &cat, &err) < 0 || tfs_selection_new(&sel, &err) < 0)
		goto fail;
	fputs(tfs_catalog_warnings(cat), stderr);
	for (size_t i = 0; i < a.n_globs; i++)
		if (tfs_selection_add_glob(sel, a.globs[i], &err) < 0)
			goto fail;
	if (a.map && tfs_selection_load_map(sel, a.map, &err) < 0)
		goto fail;
	/* A load that may go to a GPU starts CUDA (the plugin) before the engine, so the cache can
	 * pin its blocks with cudaHostAlloc and GPUs copy straight from them; a cpu load never does.
	 * A failure here is reported by tfs_load with the device it concerns. */
	if (a.map || a.lo.device.type == TFS_DEVICE_CUDA)
		tfs_cuda_device_count(NULL);
	if (tfs_engine_open(cat, &a.eo, &e, &err) < 0)
		goto fail;
	if (tfs_load(cat, e, sel, &a.lo, &r, &err) < 0)
		goto fail;
	if (a.json) {
		char buf[8192];

		if (tfs_load_report_json(tfs_load_report(r), buf, sizeof(buf)) >= 0)
			printf("%s\n", buf);
	} else {
		tfs_load_report_print(tfs_load_report(r), stdout);
		print_dtypes(r, stdout);
	}
	if (a.verify) {
		if (tfs_load_verify(e, r, &err) < 0)
			goto fail;
		fprintf(a.json ? stderr : stdout, "verify: %zu tensors match the file (xxh3)\n",
			tfs_load_count(r));
	}
	code = 0;
	goto out;
fail:
	fprintf(stderr, "tensorfs load: %s\n", err.msg);
out:
	tfs_load_free(r);
	tfs_engine_close(e);
	tfs_selection_free(sel);
	tfs_catalog_close(cat);
	free(a.globs);
	return code;
}
