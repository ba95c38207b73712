/*
 * sigv4.h - AWS Signature Version 4 for one HTTP request: the Authorization header that S3 (and
 * S3-compatible stores) want on every GET that source_http.c sends to an s3:// URL.
 *
 * Why our own and not libcurl's CURLOPT_AWS_SIGV4: libcurl signs with the wall clock inside
 * curl_easy_perform(), so its output cannot be checked against AWS's published test vectors;
 * this module takes the date as input and tests/test_sigv4.c checks it against those vectors.
 * Pure functions over caller-owned buffers: no state, no locks, no allocation left behind.
 */
#ifndef TFS_SIGV4_H
#define TFS_SIGV4_H

#include <stddef.h>

/* The SHA-256 of the empty string, the payload hash of every GET. */
#define TFS_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct tfs_sigv4_req {
	const char *method;          /* "GET" */
	const char *host;            /* signed as the "host" header; with ":port" when not default */
	const char *path;            /* canonical URI, already encoded (tfs_sigv4_uri_encode) */
	const char *query;           /* the query string without '?', "" for none; sorted here */
	const char *const *headers;  /* other headers to sign, "Name: value" each (host is added) */
	size_t n_headers;
	const char *payload_sha256;  /* lowercase hex */
	const char *amz_date;        /* "YYYYMMDDTHHMMSSZ", the request's x-amz-date */
	const char *region, *service, *access_key, *secret_key;
};

/*
 * Writes the value of the Authorization header ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=
 * ..., Signature=...") into out[0..outlen). 0, or -EINVAL (malformed header or date), -ENOMEM,
 * -ENOSPC (out too small). On error out holds an empty string.
 */
int tfs_sigv4_authorization(const struct tfs_sigv4_req *r, char *out, size_t outlen);

/* Percent-encodes `in` as SigV4 wants (unreserved characters kept; '/' kept when keep_slash).
 * Returns a string the caller frees, or NULL when out of memory. */
char *tfs_sigv4_uri_encode(const char *in, int keep_slash);

/* Lowercase hex SHA-256 of [data, data+len) into hex[65]. */
void tfs_sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
