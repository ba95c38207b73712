/*
 * source_http.h - the HTTP(S) and s3:// byte source (source_http.c): range GETs through libcurl.
 * source.c's scheme table sends every path that tfs_source_http_match() accepts here.
 *
 * Configuration comes from the environment at open, as libcurl's and AWS's own tools take it:
 *   TENSORFS_HTTP_HEADERS  extra request headers, "Name: value" one a line (`--header`)
 *   HF_TOKEN               "Authorization: Bearer ..." for huggingface.co and hf.co hosts only
 *   TENSORFS_HTTP_TIMEOUT  seconds one read may take, retries included (default 30)
 *   TENSORFS_HTTP_RETRIES  attempts after the first on connection errors and 5xx (default 10)
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN  S3 credentials (none: unsigned)
 *   AWS_REGION / AWS_DEFAULT_REGION  (default us-east-1);  AWS_ENDPOINT_URL (`--s3-endpoint`)
 */
#ifndef TFS_SOURCE_HTTP_H
#define TFS_SOURCE_HTTP_H

#include "io/source.h"

/* 1 when `path` is a URL this source reads (http://, https://, s3://), else 0. */
int tfs_source_http_match(const char *path);

/* tfs_source_open() for URLs: one probe GET (bytes 0-0) learns size, ETag and Last-Modified.
 * On success *out is owned by the caller (tfs_source_close). Errors: -ENOENT (404), -EACCES
 * (401/403), -EIO (server ignores Range, timeouts, 5xx after retries), each naming the URL. */
int tfs_source_http_open(const char *url, const struct tfs_source_info *expect,
			 struct tfs_source **out, struct tfs_error *err);

/* tfs_source_stat() for URLs: the same probe, nothing kept. */
int tfs_source_http_stat(const char *url, struct tfs_source_info *out, struct tfs_error *err);

#endif
