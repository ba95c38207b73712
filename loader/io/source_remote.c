/*
 * source_remote.c - the URL entry of source.c's scheme table: forwards to the HTTP(S)/S3 source
 * (source_http.c), which lives in its own plugin, libtensorfs-http.so (source.h says why). The
 * plugin is found at the first URL opened (util/plugin.h; TENSORFS_HTTP_PLUGIN names it
 * explicitly), so a process that only reads local files never loads libcurl.
 *
 * Process-wide state, on purpose (as for the CUDA plugin, place/backend.c): libcurl's own global
 * state is process-wide, and loading it twice would gain nothing. Found once (pthread_once),
 * never closed, read-only after that.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "io/source.h"
#include "plugin.h"

/* Defined when source_http.c is linked into this very program (unit tests, fuzzers). */
#pragma weak tfs_http_source_v1

struct http_plugin {
	const struct tfs_source_scheme *scheme; /* NULL when the plugin could not be used */
	char why[TFS_ERR_MAX - 64];             /* then: why, to follow "URL: " */
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static struct http_plugin http_plugin;

static int usable(const struct tfs_source_plugin *sp)
{
	return sp && sp->abi == TFS_SOURCE_PLUGIN_ABI &&
	       sp->scheme_size == sizeof(struct tfs_source_scheme) &&
	       sp->ops_size == sizeof(struct tfs_source_ops) &&
	       sp->source_size == sizeof(struct tfs_source) && sp->scheme;
}

static void find_http_plugin(void)
{
	struct http_plugin *p = &http_plugin;
	const char *forced = getenv("TENSORFS_HTTP_PLUGIN");
	const struct tfs_source_plugin *(*entry)(void);
	const struct tfs_source_plugin *sp;
	struct tfs_plugin pl;
	int rc;

	if (tfs_http_source_v1 && !(forced && *forced)) {
		p->scheme = tfs_http_source_v1()->scheme;
		return;
	}
	rc = tfs_plugin_open(TFS_HTTP_PLUGIN, "TENSORFS_HTTP_PLUGIN", TFS_HTTP_PLUGIN_SYMBOL, "HTTP",
			     "it is built with libcurl: make deps && make", (const void *)find_http_plugin,
			     &pl);
	if (rc <= 0) {
		snprintf(p->why, sizeof(p->why), "%s", pl.why);
		return;
	}
	*(void **)&entry = pl.entry;
	sp = entry();
	if (!usable(sp)) {
		snprintf(p->why, sizeof(p->why), "the HTTP plugin %.300s is from another build of tensorfs "
			 "(%s; want source ABI %d)", pl.path, !sp ? "no table" : "ABI mismatch",
			 TFS_SOURCE_PLUGIN_ABI);
		dlclose(pl.handle);
		return;
	}
	p->scheme = sp->scheme;
}

static const struct tfs_source_scheme *http(const char *url, struct tfs_error *err)
{
	pthread_once(&http_once, find_http_plugin);
	if (!http_plugin.scheme)
		tfs_error_set(err, -ENOTSUP, "%s: %s", url, http_plugin.why);
	return http_plugin.scheme;
}

static int remote_open(const char *url, struct tfs_source **out, struct tfs_error *err)
{
	const struct tfs_source_scheme *s = http(url, err);

	return s ? s->open(url, out, err) : -ENOTSUP;
}

static int remote_stat(const char *url, struct tfs_source_info *out, struct tfs_error *err)
{
	const struct tfs_source_scheme *s = http(url, err);

	return s ? s->stat(url, out, err) : -ENOTSUP;
}

const struct tfs_source_scheme tfs_source_scheme_http = {
	.kind = "http",
	.open = remote_open,
	.stat = remote_stat,
};
