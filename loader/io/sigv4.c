/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h): canonical request -> string to sign -> HMAC
 * chain over the date, region and service -> signature. The steps follow AWS's "Create a signed
 * AWS API request" page; tests/test_sigv4.c holds AWS's published vectors.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "io/sigv4.h"

/* A growing string; `bad` records an allocation failure so callers check once at the end. */
struct sb {
	char *s;
	size_t len, cap;
	int bad;
};

static void sb_addn(struct sb *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->bad = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_add(struct sb *b, const char *s) { sb_addn(b, s, strlen(s)); }

static void hex(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void tfs_sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	hex(md, sizeof(md), out);
}

static void hmac(const unsigned char *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned char md[32];
	unsigned int n = 32;

	/* Through md: the chain passes the same buffer as key and out. */
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), md, &n);
	memcpy(out, md, 32);
}

char *tfs_sigv4_uri_encode(const char *in, int keep_slash)
{
	struct sb b = { 0 };
	char esc[4];

	sb_add(&b, "");
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		    (keep_slash && *p == '/')) {
			sb_addn(&b, (const char *)p, 1);
		} else {
			snprintf(esc, sizeof(esc), "%%%02X", *p);
			sb_addn(&b, esc, 3);
		}
	}
	if (b.bad) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* Decodes %XX escapes of [s, s+n) into a new string (the query arrives as the URL had it). */
static char *uri_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char h[3] = { s[i + 1], s[i + 2], 0 };
			*o++ = (char)strtol(h, NULL, 16);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The canonical query: each name=value re-encoded, then sorted (name first, since '=' sorts
 * below every encoded character). */
static int canonical_query(const char *q, struct sb *out)
{
	char **parts = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	for (const char *p = q; *p;) {
		const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		char *k = uri_decode(p, (size_t)((eq ? eq : end) - p));
		char *v = eq ? uri_decode(eq + 1, (size_t)(end - eq - 1)) : strdup("");
		char *ke = k ? tfs_sigv4_uri_encode(k, 0) : NULL, *ve = v ? tfs_sigv4_uri_encode(v, 0) : NULL;
		char *kv = ke && ve ? malloc(strlen(ke) + strlen(ve) + 2) : NULL;

		if (kv)
			sprintf(kv, "%s=%s", ke, ve);
		free(k);
		free(v);
		free(ke);
		free(ve);
		if (kv && n == cap) {
			char **np = realloc(parts, (cap = cap ? cap * 2 : 8) * sizeof(*np));
			if (!np) {
				free(kv);
				kv = NULL;
			} else {
				parts = np;
			}
		}
		if (!kv) {
			rc = -ENOMEM;
			break;
		}
		if (end > p)
			parts[n++] = kv;
		else
			free(kv);
		p = amp ? amp + 1 : end;
	}
	if (rc == 0) {
		if (n > 1) /* qsort wants a real array; parts is NULL when empty */
			qsort(parts, n, sizeof(*parts), cmp_str);
		for (size_t i = 0; i < n; i++) {
			if (i)
				sb_add(out, "&");
			sb_add(out, parts[i]);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	free(parts);
	return rc;
}

/* "Name: value" -> "name:value" with the value trimmed and inner runs of spaces collapsed. */
static char *canonical_header(const char *h)
{
	const char *colon = strchr(h, ':');
	char *out, *o;

	if (!colon || colon == h)
		return NULL;
	out = malloc(strlen(h) + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = h; p < colon; p++)
		*o++ = (char)tolower((unsigned char)*p);
	*o++ = ':';
	for (const char *p = colon + 1; *p; p++) {
		if (*p == ' ' || *p == '\t') {
			if (o[-1] != ':' && o[-1] != ' ')
				*o++ = ' ';
		} else {
			*o++ = *p;
		}
	}
	if (o[-1] == ' ')
		o--;
	*o = '\0';
	return out;
}

int tfs_sigv4_authorization(const struct tfs_sigv4_req *r, char *out, size_t outlen)
{
	struct sb creq = { 0 }, signed_h = { 0 }, sts = { 0 };
	char **hs = calloc(r->n_headers + 1, sizeof(*hs));
	char hash[65], date[9], sig[65], scope[256];
	unsigned char k[32];
	int rc = -ENOMEM, n;
	size_t nh = 0;

	if (outlen)
		out[0] = '\0';
	if (!hs)
		return -ENOMEM;
	if (strlen(r->amz_date) != 16 || r->amz_date[8] != 'T') {
		rc = -EINVAL;
		goto done;
	}
	memcpy(date, r->amz_date, 8);
	date[8] = '\0';

	/* Canonical headers: host plus the caller's, lowercase, sorted by name. */
	hs[nh] = malloc(strlen(r->host) + 6);
	if (!hs[nh])
		goto done;
	sprintf(hs[nh++], "host:%s", r->host);
	for (size_t i = 0; i < r->n_headers; i++) {
		hs[nh] = canonical_header(r->headers[i]);
		if (!hs[nh]) {
			rc = strchr(r->headers[i], ':') ? -ENOMEM : -EINVAL;
			goto done;
		}
		nh++;
	}
	qsort(hs, nh, sizeof(*hs), cmp_str);

	sb_add(&creq, r->method);
	sb_add(&creq, "\n");
	sb_add(&creq, r->path[0] ? r->path : "/");
	sb_add(&creq, "\n");
	if (canonical_query(r->query ? r->query : "", &creq) < 0)
		goto done;
	sb_add(&creq, "\n");
	for (size_t i = 0; i < nh; i++) {
		sb_add(&creq, hs[i]);
		sb_add(&creq, "\n");
		if (i)
			sb_add(&signed_h, ";");
		sb_addn(&signed_h, hs[i], (size_t)(strchr(hs[i], ':') - hs[i]));
	}
	sb_add(&creq, "\n");
	sb_add(&creq, signed_h.s ? signed_h.s : "");
	sb_add(&creq, "\n");
	sb_add(&creq, r->payload_sha256);
	if (creq.bad || signed_h.bad)
		goto done;

	n = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, r->region, r->service);
	if (n < 0 || (size_t)n >= sizeof(scope)) {
		rc = -EINVAL;
		goto done;
	}
	tfs_sigv4_sha256_hex(creq.s, creq.len, hash);
	sb_add(&sts, "AWS4-HMAC-SHA256\n");
	sb_add(&sts, r->amz_date);
	sb_add(&sts, "\n");
	sb_add(&sts, scope);
	sb_add(&sts, "\n");
	sb_add(&sts, hash);
	if (sts.bad)
		goto done;

	{
		size_t sl = strlen(r->secret_key);
		char *key0 = malloc(sl + 5);
		if (!key0)
			goto done;
		memcpy(key0, "AWS4", 4);
		memcpy(key0 + 4, r->secret_key, sl + 1);
		hmac((unsigned char *)key0, sl + 4, date, k);
		free(key0);
	}
	hmac(k, 32, r->region, k);
	hmac(k, 32, r->service, k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, sts.s, k);
	hex(k, 32, sig);

	n = snprintf(out, outlen, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		     r->access_key, scope, signed_h.s, sig);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen)
			out[0] = '\0';
		rc = -ENOSPC;
		goto done;
	}
	rc = 0;
done:
	for (size_t i = 0; i < nh; i++)
		free(hs[i]);
	free(hs);
	free(creq.s);
	free(signed_h.s);
	free(sts.s);
	return rc;
}
