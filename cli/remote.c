/*
 * remote.c - the command-line options for checkpoints behind URLs (--header, --s3-endpoint),
 * shared by `mount`, `load` and `ls`. The HTTP source reads its configuration from the environment at
 * open (see README, "Checkpoints over HTTP"), so these options only set it, before any thread or
 * the daemon's fork, which inherits it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"

int tfs_cli_add_header(const char *h)
{
	const char *old = getenv("TENSORFS_HTTP_HEADERS"), *colon = strchr(h, ':');
	char *v;
	int rc;

	if (!colon || colon == h || strchr(h, '\n') || strcspn(h, " \t") < (size_t)(colon - h)) {
		fprintf(stderr, "tensorfs: --header '%s': expected 'Name: value'\n", h);
		return 2;
	}
	if (old && *old)
		rc = asprintf(&v, "%s\n%s", old, h);
	else
		rc = (v = strdup(h)) ? 0 : -1;
	if (rc < 0 || !v || setenv("TENSORFS_HTTP_HEADERS", v, 1) < 0) {
		free(v);
		fprintf(stderr, "tensorfs: --header: out of memory\n");
		return 1;
	}
	free(v);
	return 0;
}

int tfs_cli_set_s3_endpoint(const char *url)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		fprintf(stderr, "tensorfs: --s3-endpoint '%s': expected an http:// or https:// URL\n",
			url);
		return 2;
	}
	if (setenv("AWS_ENDPOINT_URL", url, 1) < 0) {
		fprintf(stderr, "tensorfs: --s3-endpoint: out of memory\n");
		return 1;
	}
	return 0;
}

int tfs_cli_is_url(const char *ckpt)
{
	return strncmp(ckpt, "http://", 7) == 0 || strncmp(ckpt, "https://", 8) == 0 ||
	       strncmp(ckpt, "s3://", 5) == 0;
}
