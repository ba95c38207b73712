/*
 * source_http.c - the HTTP(S) byte source: every read() is one range GET of exactly the bytes asked
 * for (the engine asks for whole cache blocks), through libcurl. s3:// URLs become HTTPS URLs of the
 * bucket (or of --s3-endpoint, path-style) and are signed with AWS Signature V4 (sigv4.c). Built
 * into its own plugin, libtensorfs-http.so, which source_remote.c loads at the first URL (source.h).
 *
 * Concurrency: the engine's reader threads call read() at once; each takes an easy handle from the
 * source's pool and puts it back after, so every thread keeps its own warm connection (curl keeps
 * it alive in the handle) and as many requests are in flight as the engine has threads.
 *
 * Faults: connection errors, timeouts mid-transfer and 5xx/429 are retried with doubling backoff
 * while the read's deadline (TENSORFS_HTTP_TIMEOUT) lasts, then the read fails with -EIO; nothing
 * blocks past the deadline. A 200 where 206 was asked (the server ignored Range), a Content-Range
 * other than the one asked, or a body longer or shorter than asked is -EIO at once: never wrong
 * bytes. An ETag, Last-Modified or total size other than the probe's at open marks the source
 * changed: that read and every later one fail, and check() says so, as for a changed local shard;
 * so does a 404 or 410 after open (the file is gone).
 *
 * Configuration comes from the environment at open, as libcurl's and AWS's own tools take it (the
 * command line's --header and --s3-endpoint set the first and last):
 *   TENSORFS_HTTP_HEADERS  extra request headers, "Name: value" one a line
 *   HF_TOKEN               "Authorization: Bearer ..." for huggingface.co and hf.co hosts only
 *   TENSORFS_HTTP_TIMEOUT  seconds one read may take, retries included (default 30)
 *   TENSORFS_HTTP_RETRIES  attempts after the first on connection errors and 5xx (default 10)
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN  S3 credentials (none: unsigned)
 *   AWS_REGION / AWS_DEFAULT_REGION (default us-east-1); AWS_ENDPOINT_URL (path-style endpoint)
 *
 * Redirects: the Hub answers every GET of a resolve URL with a redirect to its CDN. After one
 * range arrived through a redirect, later reads go to where it led (without Authorization or
 * Cookie headers when that is another host, as curl does on redirects), and back to the original
 * URL the first time that fails (an expired signature) or answers a range wrongly (that read asks
 * the original once more): one request per block instead of two.
 *
 * Locking: s->lock guards the handle pool and `moved`; everything else is immutable after open except
 * `changed` (atomic, set once).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "error.h"
#include "io/sigv4.h"
#include "io/source.h"

struct s3_conf {
	char *host;                  /* signed "host" value (with :port when the URL has one) */
	char *path;                  /* canonical URI: /key or /bucket/key, encoded */
	char *region, *access_key, *secret_key, *token;
};

struct http_source {
	struct tfs_source pub;       /* pub.path: the URL as given (s3:// stays s3://) */
	char *url;                   /* what is fetched: http(s)://..., encoded */
	char *name;                  /* for messages: the URL without its query (presigned keys) */
	struct curl_slist *headers;  /* --header lines and the HF bearer; immutable */
	char *moved;                 /* where s->url last redirected to (the Hub's CDN, say), asked
				      * directly from then on, NULL when it did not; s->lock */
	struct s3_conf s3;           /* s3.access_key NULL: not signed */
	long timeout_ms;
	int retries;
	char etag[256], lastmod[64]; /* from the probe at open; "" when the server sent none */
	atomic_int changed;          /* set once */
	pthread_mutex_t lock;
	CURL **pool;                 /* idle easy handles; s->lock */
	size_t n_pool, cap_pool;     /* s->lock */
};

/* One transfer's view of the response; header fields reset at every status line (redirects). */
struct xfer {
	char *buf;
	size_t len, got;
	long status;
	int overflow, not_partial;
	int via_moved;               /* the answer came from where a redirect led (s->moved) */
	char crange[128], etag[256], lastmod[64];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies header value `v` (n bytes, CRLF included) into dst, trimmed. */
static void hval(char *dst, size_t cap, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', n);
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->crange[0] = x->etag[0] = x->lastmod[0] = '\0';
	} else if (n > 14 && strncasecmp(p, "content-range:", 14) == 0) {
		hval(x->crange, sizeof(x->crange), p + 14, n - 14);
	} else if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
		hval(x->etag, sizeof(x->etag), p + 5, n - 5);
	} else if (n > 14 && strncasecmp(p, "last-modified:", 14) == 0) {
		hval(x->lastmod, sizeof(x->lastmod), p + 14, n - 14);
	}
	return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (x->status == 200) { /* the whole file is coming: stop it here */
		x->not_partial = 1;
		return 0;
	}
	if (x->status != 206)
		return n; /* an error page: its status says what happened */
	if (n > x->len - x->got) {
		x->overflow = 1;
		return 0;
	}
	memcpy(x->buf + x->got, p, n);
	x->got += n;
	return n;
}

static CURL *pool_get(struct http_source *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->n_pool)
		h = s->pool[--s->n_pool];
	pthread_mutex_unlock(&s->lock);
	return h ? h : curl_easy_init();
}

static void pool_put(struct http_source *s, CURL *h)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_pool == s->cap_pool) {
		size_t cap = s->cap_pool ? s->cap_pool * 2 : 8;
		CURL **p = realloc(s->pool, cap * sizeof(*p));
		if (p) {
			s->pool = p;
			s->cap_pool = cap;
		}
	}
	if (s->n_pool < s->cap_pool) {
		s->pool[s->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (h)
		curl_easy_cleanup(h);
}

/*
 * The request headers: the fixed ones, plus a fresh SigV4 signature for s3://. *rc: 0, -ENOMEM, or
 * tfs_sigv4_authorization's error (NULL is also the empty list of a plain URL).
 */
static struct curl_slist *request_headers(struct http_source *s, int drop_auth, int *rc)
{
	struct curl_slist *l = NULL, *n;
	char date[17], line[1024], auth[768], *h_tok = NULL;
	const char *sign[3];
	struct tm tm;
	time_t t;

	*rc = -ENOMEM;
	for (struct curl_slist *h = s->headers; h; h = h->next) {
		if (drop_auth && (strncasecmp(h->data, "authorization:", 14) == 0 ||
				  strncasecmp(h->data, "cookie:", 7) == 0))
			continue;
		n = curl_slist_append(l, h->data);
		if (!n)
			goto fail;
		l = n;
	}
	if (!s->s3.access_key) {
		*rc = 0;
		return l;
	}
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	char h_sha[96], h_date[48];
	snprintf(h_sha, sizeof(h_sha), "x-amz-content-sha256: %s", TFS_SIGV4_EMPTY_SHA256);
	snprintf(h_date, sizeof(h_date), "x-amz-date: %s", date);
	sign[0] = h_sha;
	sign[1] = h_date;
	/* A session token has no documented bound on its length: sized to it, never cut. */
	if (s->s3.token && asprintf(&h_tok, "x-amz-security-token: %s", s->s3.token) < 0) {
		h_tok = NULL;
		goto fail;
	}
	sign[2] = h_tok;
	struct tfs_sigv4_req r = {
		.method = "GET", .host = s->s3.host, .path = s->s3.path, .query = "",
		.headers = sign, .n_headers = s->s3.token ? 3 : 2,
		.payload_sha256 = TFS_SIGV4_EMPTY_SHA256, .amz_date = date, .region = s->s3.region,
		.service = "s3", .access_key = s->s3.access_key, .secret_key = s->s3.secret_key,
	};
	*rc = tfs_sigv4_authorization(&r, auth, sizeof(auth));
	if (*rc < 0)
		goto fail;
	*rc = -ENOMEM;
	snprintf(line, sizeof(line), "Authorization: %s", auth);
	for (size_t i = 0; i < r.n_headers + 1; i++) {
		n = curl_slist_append(l, i < r.n_headers ? sign[i] : line);
		if (!n)
			goto fail;
		l = n;
	}
	free(h_tok);
	*rc = 0;
	return l;
fail:
	free(h_tok);
	curl_slist_free_all(l);
	return NULL;
}

/* What get_range() returns besides 0 and errors: answers that mean "no such byte". */
enum { GOT_416 = 1, GOT_EMPTY = 2 };

/*
 * One GET of [off, off+len) into buf. 0 when a 206 arrived (http_read checks what it holds);
 * GOT_416 / GOT_EMPTY; -EAGAIN (message in err) when another attempt may help; another negative
 * errno when it cannot.
 */
static int get_range_at(struct http_source *s, CURL *h, const char *url, int drop_auth,
			struct xfer *x, uint64_t off, size_t len, long budget_ms, struct tfs_error *err)
{
	char range[64];
	struct curl_slist *hdrs;
	CURLcode cc;
	int rc;

	hdrs = request_headers(s, drop_auth, &rc);
	if (rc == -ENOMEM)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", s->name);
	if (rc < 0)
		return tfs_error_set(err, -EINVAL, "%s: cannot sign the request (%s): check "
				     "AWS_ACCESS_KEY_ID and AWS_REGION", s->name, strerror(-rc));
	snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_RANGE, range);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* An S3 key is a name, not a path: "a/../b" is that key, not "b" (nor another bucket). */
	if (s->s3.host)
		curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, budget_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, budget_ms < 5000 ? budget_ms : 5000L);
	/* A stalled server (under 1 KiB/s for 5 s) is a failed attempt, well before the deadline. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 5L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	cc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);

	if (x->not_partial)
		return tfs_error_set(err, -EIO, "%s: the server ignored the Range request (200 "
				     "instead of 206): refusing to read it whole", s->name);
	if (x->overflow)
		return tfs_error_set(err, -EIO, "%s: the server sent more than the %zu bytes asked at "
				     "%llu", s->name, len, (unsigned long long)off);
	if (cc != CURLE_OK && x->status != 206 && x->status >= 400)
		cc = CURLE_OK; /* an error page cut short: judge by its status below */
	if (cc != CURLE_OK)
		return tfs_error_set(err, -EAGAIN, "%s: %s", s->name, curl_easy_strerror(cc));
	if (x->status >= 500 || x->status == 429 || x->status == 408)
		return tfs_error_set(err, -EAGAIN, "%s: HTTP %ld", s->name, x->status);
	if (x->status == 404 || x->status == 410)
		return tfs_error_set(err, -ENOENT, "%s: not found (HTTP %ld)", s->name, x->status);
	if (x->status == 401 || x->status == 403)
		return tfs_error_set(err, -EACCES, "%s: access denied (HTTP %ld)", s->name, x->status);
	if (x->status == 416)
		return GOT_416;
	if (x->status == 200) { /* no body at all, or on_body would have stopped it: */
		curl_off_t cl = -1;
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (cl == 0 && x->got == 0)
			return GOT_EMPTY; /* nginx answers a range of an empty file so */
	}
	if (x->status != 206)
		return tfs_error_set(err, -EIO, "%s: unexpected HTTP %ld to a range request", s->name,
				     x->status);
	return 0;
}

/* Length of "scheme://host:port" of a URL. */
static size_t origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	return p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/?#") : strlen(url);
}

/* Back to asking s->url: forgets where a redirect led, when that is still `which` (NULL: whatever
 * it is), so a target another thread learned meanwhile is kept. */
static void forget_moved(struct http_source *s, const char *which)
{
	pthread_mutex_lock(&s->lock);
	if (s->moved && (!which || strcmp(s->moved, which) == 0)) {
		free(s->moved);
		s->moved = NULL;
	}
	pthread_mutex_unlock(&s->lock);
}

/* get_range_at() on the URL to ask now: where the last redirect led, or s->url. */
static int get_range(struct http_source *s, CURL *h, struct xfer *x, uint64_t off, size_t len,
		     long budget_ms, struct tfs_error *err)
{
	char *moved = NULL, *eff = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	if (s->moved)
		moved = strdup(s->moved);
	pthread_mutex_unlock(&s->lock);
	if (!moved) {
		rc = get_range_at(s, h, s->url, 0, x, off, len, budget_ms, err);
		/* Only plain URLs: an s3:// signature names its host, and a 206 proves the target. */
		if (rc == 0 && !s->s3.access_key &&
		    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff &&
		    strcmp(eff, s->url) != 0) {
			char *copy = strdup(eff);
			pthread_mutex_lock(&s->lock);
			free(s->moved);
			s->moved = copy;
			pthread_mutex_unlock(&s->lock);
		}
		return rc;
	}
	rc = get_range_at(s, h, moved, origin_len(moved) != origin_len(s->url) ||
			  strncmp(moved, s->url, origin_len(moved)) != 0,
			  x, off, len, budget_ms, err);
	x->via_moved = rc == 0;
	if (rc < 0) { /* expired or gone: forget it and ask the original URL again */
		forget_moved(s, moved);
		rc = rc == -ENOMEM ? rc : -EAGAIN;
	}
	free(moved);
	return rc;
}

/* Parses "bytes A-B/T". 0, or -1 when malformed. */
static int parse_crange(const char *cr, uint64_t *a, uint64_t *b, uint64_t *total)
{
	unsigned long long x, y, t;
	int n = 0;

	if (sscanf(cr, "bytes %llu-%llu/%llu%n", &x, &y, &t, &n) != 3 || cr[n] != '\0' || y < x)
		return -1;
	*a = x;
	*b = y;
	*total = t;
	return 0;
}

/* 1 when the response's validators say the file is not the one probed at open. */
static int validators_differ(const struct http_source *s, const struct xfer *x)
{
	return (s->etag[0] && x->etag[0] && strcmp(s->etag, x->etag) != 0) ||
	       (s->lastmod[0] && x->lastmod[0] && strcmp(s->lastmod, x->lastmod) != 0);
}

static int mark_changed(struct http_source *s, const char *why, struct tfs_error *err)
{
	atomic_store(&s->changed, 1);
	return tfs_error_set(err, -EIO, "%s: changed on the server since it was opened (%s)",
			     s->name, why);
}

/* Retries get_range() with doubling backoff until it succeeds, fails for good, or the deadline. */
static int fetch(struct http_source *s, struct xfer *x, uint64_t off, size_t len,
		 struct tfs_error *err)
{
	int64_t start = now_ms(), deadline = start + s->timeout_ms;
	long backoff = 100;
	int rc = -EIO, attempt;

	for (attempt = 0; attempt <= s->retries; attempt++) {
		int64_t left = deadline - now_ms();
		CURL *h;

		if (left <= 0)
			break;
		h = pool_get(s);
		if (!h)
			return tfs_error_set(err, -ENOMEM, "%s: out of memory", s->name);
		x->got = 0;
		x->status = 0;
		x->overflow = x->not_partial = x->via_moved = 0;
		x->crange[0] = x->etag[0] = x->lastmod[0] = '\0';
		rc = get_range(s, h, x, off, len, (long)left, err);
		pool_put(s, h);
		if (rc != -EAGAIN)
			return rc;
		left = deadline - now_ms();
		if (left <= backoff || attempt == s->retries) {
			attempt++;
			break;
		}
		usleep((useconds_t)backoff * 1000);
		backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
	}
	if (rc == -EAGAIN && err) { /* err holds the last attempt's reason: "NAME: why" */
		char last[TFS_ERR_MAX];
		size_t ln = strlen(s->name);
		const char *why = err->msg;

		if (strncmp(why, s->name, ln) == 0 && strncmp(why + ln, ": ", 2) == 0)
			why += ln + 2;
		snprintf(last, sizeof(last), "%s", why);
		tfs_error_set(err, -EIO, "%s: gave up after %d attempt%s in %lld ms: %s", s->name,
			      attempt, attempt == 1 ? "" : "s", (long long)(now_ms() - start), last);
	}
	return -EIO;
}

/* A 206 as asked: 0, or -EIO naming what is wrong (marking the source changed when the server
 * says the file is another one now). */
static int check_answer(struct http_source *s, const struct xfer *x, uint64_t off, size_t len,
			struct tfs_error *err)
{
	uint64_t a, b, total;

	if (validators_differ(s, x))
		return mark_changed(s, x->etag[0] && strcmp(s->etag, x->etag) ? "ETag" : "Last-Modified",
				    err);
	if (parse_crange(x->crange, &a, &b, &total) < 0)
		return tfs_error_set(err, -EIO, "%s: bad Content-Range '%s' for bytes %llu-%llu",
				     s->name, x->crange, (unsigned long long)off,
				     (unsigned long long)(off + len - 1));
	if (total != s->pub.info.size)
		return mark_changed(s, "size", err);
	if (a != off || b != off + len - 1)
		return tfs_error_set(err, -EIO, "%s: asked bytes %llu-%llu, the server sent '%s'",
				     s->name, (unsigned long long)off,
				     (unsigned long long)(off + len - 1), x->crange);
	if (x->got != len)
		return tfs_error_set(err, -EIO, "%s: short body: %zu of %zu bytes at %llu", s->name,
				     x->got, len, (unsigned long long)off);
	return 0;
}

static ssize_t http_read(struct tfs_source *src, void *buf, size_t len, uint64_t off, unsigned flags,
			 struct tfs_error *err)
{
	struct http_source *s = (struct http_source *)src;
	struct xfer x;
	int rc;

	if (atomic_load(&s->changed))
		return tfs_error_set(err, -EIO, "%s: changed on the server since it was opened",
				     s->name);
	if (off >= s->pub.info.size || len == 0)
		return 0;
	if (len > s->pub.info.size - off)
		len = (size_t)(s->pub.info.size - off);
	x.buf = buf;
	x.len = len;
	for (int again = 1;; again = 0) {
		rc = fetch(s, &x, off, len, err);
		if (rc > 0)
			return mark_changed(s, "the range is past its end now", err);
		/* Opened, then gone: removed or replaced on the server, as a local shard deleted
		 * under the mount. A read's error is EIO, whatever the status; the message keeps it. */
		if (rc == -ENOENT)
			return mark_changed(s, "gone: HTTP 404 or 410", err);
		if (rc == -EACCES && err) {
			char why[TFS_ERR_MAX];
			snprintf(why, sizeof(why), "%s", err->msg);
			return tfs_error_set(err, -EIO, "%s (credentials expired or revoked?)", why);
		}
		if (rc == -EACCES)
			return -EIO;
		if (rc < 0)
			return rc;
		rc = check_answer(s, &x, off, len, err);
		if (rc == 0)
			return (ssize_t)len;
		/* A wrong answer from where a redirect led (one CDN node gone bad): forget it, as a
		 * failed request there does, and ask the original URL once more. */
		if (!again || !x.via_moved || atomic_load(&s->changed))
			return rc;
		forget_moved(s, NULL);
	}
}

static int http_check(struct tfs_source *src, struct tfs_error *err)
{
	struct http_source *s = (struct http_source *)src;

	/* Every read compares the validators; a probe here would cost a round trip per request. */
	if (atomic_load(&s->changed))
		return tfs_error_set(err, -EIO, "%s: changed on the server since it was opened",
				     s->name);
	return 0;
}

static void http_close(struct tfs_source *src)
{
	struct http_source *s = (struct http_source *)src;

	for (size_t i = 0; i < s->n_pool; i++)
		curl_easy_cleanup(s->pool[i]);
	free(s->pool);
	pthread_mutex_destroy(&s->lock);
	curl_slist_free_all(s->headers);
	free(s->moved);
	free(s->s3.host);
	free(s->s3.path);
	free(s->s3.region);
	free(s->s3.access_key);
	free(s->s3.secret_key);
	free(s->s3.token);
	free(s->url);
	free(s->name);
	free(s->pub.path);
	free(s);
}

static const struct tfs_source_ops http_ops = {
	.kind = "http",
	.read = http_read,
	.check = http_check,
	.close = http_close,
};

static char *env_dup(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strdup(v) : NULL;
}

/* 1 when `host` is huggingface.co or hf.co or one of their subdomains. */
static int is_hf_host(const char *host)
{
	static const char *const hf[] = { "huggingface.co", "hf.co" };

	for (size_t i = 0; i < 2; i++) {
		size_t lh = strlen(host), ls = strlen(hf[i]);
		if (lh == ls ? strcasecmp(host, hf[i]) == 0
			     : lh > ls && host[lh - ls - 1] == '.' && strcasecmp(host + lh - ls, hf[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * 1 when HF_TOKEN may go to `url`: its host is the Hub's, as libcurl parses it (the host curl will
 * connect to), and it carries no user name or password: in "https://huggingface.co:x@elsewhere/"
 * the Hub's name is a user name, and the token would go elsewhere.
 */
static int hub_url(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *user = NULL, *pass = NULL;
	int ok = 0;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_USER, &user, 0);
		curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
		ok = !user && !pass && is_hf_host(host);
	}
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return ok;
}

/* s3://bucket/key -> the HTTPS (or --s3-endpoint) URL and what SigV4 signs. */
static int s3_setup(struct http_source *s, const char *url, struct tfs_error *err)
{
	const char *bucket = url + 5, *slash = strchr(bucket, '/');
	char *endpoint = env_dup("AWS_ENDPOINT_URL"), *key = NULL, *hostport = NULL;
	CURLU *u = NULL;
	char *uhost = NULL, *uport = NULL;
	size_t lb;
	int rc = -ENOMEM;

	if (!slash || slash == bucket || !slash[1]) {
		rc = tfs_error_set(err, -EINVAL, "%s: an s3:// URL names a bucket and a key "
				   "(s3://bucket/path/file)", url);
		goto done;
	}
	lb = (size_t)(slash - bucket);
	s->s3.region = env_dup("AWS_REGION");
	if (!s->s3.region)
		s->s3.region = env_dup("AWS_DEFAULT_REGION");
	if (!s->s3.region)
		s->s3.region = strdup("us-east-1");
	key = tfs_sigv4_uri_encode(slash + 1, 1);
	if (!key || !s->s3.region)
		goto done;
	if (endpoint) { /* path-style: ENDPOINT/bucket/key, as S3-compatible stores want */
		size_t le = strlen(endpoint);
		while (le && endpoint[le - 1] == '/')
			endpoint[--le] = '\0';
		if (asprintf(&s->url, "%s/%.*s/%s", endpoint, (int)lb, bucket, key) < 0)
			s->url = NULL;
	} else if (asprintf(&s->url, "https://%.*s.s3.%s.amazonaws.com/%s", (int)lb, bucket,
			    s->s3.region, key) < 0) {
		s->url = NULL;
	}
	if (!s->url)
		goto done;
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, s->url, CURLU_PATH_AS_IS) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &uhost, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &s->s3.path, 0) != CURLUE_OK) {
		rc = tfs_error_set(err, -EINVAL, "%s: bad S3 endpoint '%s'", url,
				   endpoint ? endpoint : "");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_PORT, &uport, 0) == CURLUE_OK && uport)
		rc = asprintf(&hostport, "%s:%s", uhost, uport);
	else
		hostport = strdup(uhost), rc = hostport ? 0 : -1;
	if (rc < 0 || !hostport) {
		rc = -ENOMEM;
		goto done;
	}
	s->s3.host = hostport;
	hostport = NULL;
	s->s3.access_key = env_dup("AWS_ACCESS_KEY_ID");
	s->s3.secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
	s->s3.token = env_dup("AWS_SESSION_TOKEN");
	if (!s->s3.access_key != !s->s3.secret_key) {
		rc = tfs_error_set(err, -EINVAL, "%s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
				   "must be set together", url);
		goto done;
	}
	rc = 0;
done:
	if (rc == -ENOMEM)
		tfs_error_set(err, -ENOMEM, "%s: out of memory", url);
	curl_free(uhost);
	curl_free(uport);
	curl_url_cleanup(u);
	free(hostport);
	free(endpoint);
	free(key);
	return rc;
}

/* The fixed request headers: TENSORFS_HTTP_HEADERS lines, then HF_TOKEN for Hub hosts. */
static int header_setup(struct http_source *s, struct tfs_error *err)
{
	const char *lines = getenv("TENSORFS_HTTP_HEADERS"), *tok = getenv("HF_TOKEN");
	int have_auth = 0;

	for (const char *p = lines; p && *p;) {
		const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p);
		char line[4096];
		struct curl_slist *n;

		if (end > p) {
			if ((size_t)(end - p) >= sizeof(line) || !memchr(p, ':', (size_t)(end - p)) ||
			    memchr(p, '\r', (size_t)(end - p)))
				return tfs_error_set(err, -EINVAL, "%s: bad header '%.*s' (want "
						     "'Name: value')", s->name, (int)(end - p), p);
			memcpy(line, p, (size_t)(end - p));
			line[end - p] = '\0';
			have_auth |= strncasecmp(line, "authorization:", 14) == 0;
			n = curl_slist_append(s->headers, line);
			if (!n)
				return tfs_error_set(err, -ENOMEM, "%s: out of memory", s->name);
			s->headers = n;
		}
		p = nl ? nl + 1 : end;
	}
	if (tok && *tok && !have_auth && hub_url(s->url)) {
		if (strpbrk(tok, "\r\n"))
			return tfs_error_set(err, -EINVAL, "%s: HF_TOKEN holds a line break: not sent",
					     s->name);
		char line[4096];
		struct curl_slist *n;
		snprintf(line, sizeof(line), "Authorization: Bearer %s", tok);
		n = curl_slist_append(s->headers, line);
		if (!n)
			return tfs_error_set(err, -ENOMEM, "%s: out of memory", s->name);
		s->headers = n;
	}
	return 0;
}

/* The URL as messages show it: without its query (a presigned URL's keys) and without a user name
 * and password ("https://user:secret@host/..." -> "https://host/..."). NULL: no memory. */
static char *display_name(const char *url)
{
	size_t end = strcspn(url, "?#");
	const char *auth = strstr(url, "://"), *at;
	char *name;

	if (auth && (size_t)(auth - url) < end) {
		size_t la;

		auth += 3;
		la = strcspn(auth, "/?#");
		at = memrchr(auth, '@', la);
		if (at && asprintf(&name, "%.*s%.*s", (int)(auth - url), url,
				   (int)(end - (size_t)(at + 1 - url)), at + 1) >= 0)
			return name;
		if (at)
			return NULL;
	}
	return strndup(url, end);
}

static long env_long(const char *name, long def, long lo, long hi)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (!v || !*v)
		return def;
	x = strtol(v, &end, 10);
	return *end || x < lo || x > hi ? def : x;
}

static int http_open(const char *url, struct tfs_source **out, struct tfs_error *err)
{
	struct http_source *s = calloc(1, sizeof(*s));
	uint64_t a, b, total;
	char one;
	struct xfer x;
	int rc = -ENOMEM;

	if (!s)
		return tfs_error_set(err, -ENOMEM, "%s: out of memory", url);
	s->pub.ops = &http_ops;
	pthread_mutex_init(&s->lock, NULL);
	s->pub.path = strdup(url);
	s->name = display_name(url);
	if (!s->pub.path || !s->name)
		goto nomem;
	s->timeout_ms = env_long("TENSORFS_HTTP_TIMEOUT", 30, 1, 86400) * 1000;
	s->retries = (int)env_long("TENSORFS_HTTP_RETRIES", 10, 0, 1000);
	if (strncmp(url, "s3://", 5) == 0)
		rc = s3_setup(s, url, err);
	else
		rc = (s->url = strdup(url)) ? 0 : -ENOMEM;
	if (rc == -ENOMEM)
		goto nomem;
	if (rc < 0)
		goto fail;
	rc = header_setup(s, err);
	if (rc < 0)
		goto fail;

	/* The probe: one byte, for the size (Content-Range total) and the validators. */
	x.buf = &one;
	x.len = 1;
	rc = fetch(s, &x, 0, 1, err);
	if (rc == GOT_EMPTY) {
		total = 0;
	} else if (rc == GOT_416) { /* no byte 0: an empty file, if the server says "bytes * /0" */
		if (sscanf(x.crange, "bytes */%llu", (unsigned long long *)&total) != 1 || total) {
			rc = tfs_error_set(err, -EIO, "%s: range 0-0 refused (HTTP 416, Content-Range "
					   "'%s')", s->name, x.crange);
			goto fail;
		}
	} else if (rc < 0) {
		goto fail;
	} else if (parse_crange(x.crange, &a, &b, &total) < 0 || a != 0 || b != 0) {
		rc = tfs_error_set(err, -EIO, "%s: bad Content-Range '%s' for bytes 0-0", s->name,
				   x.crange);
		goto fail;
	} else if (x.got != 1) {
		rc = tfs_error_set(err, -EIO, "%s: short body: %zu of 1 bytes at 0", s->name, x.got);
		goto fail;
	}
	snprintf(s->etag, sizeof(s->etag), "%s", x.etag);
	snprintf(s->lastmod, sizeof(s->lastmod), "%s", x.lastmod);
	s->pub.info.size = total;
	s->pub.info.mode = 0444;
	if (s->lastmod[0]) {
		time_t t = curl_getdate(s->lastmod, NULL);
		s->pub.info.mtime_ns = t > 0 ? (int64_t)t * 1000000000 : 0;
	}
	*out = &s->pub;
	return 0;
nomem:
	rc = tfs_error_set(err, -ENOMEM, "%s: out of memory", url);
fail:
	http_close(&s->pub);
	return rc;
}

static int http_stat(const char *url, struct tfs_source_info *out, struct tfs_error *err)
{
	struct tfs_source *s;
	int rc = http_open(url, &s, err);

	if (rc < 0)
		return rc;
	*out = s->info;
	tfs_source_close(s);
	return 0;
}

static const struct tfs_source_scheme http_scheme = {
	.kind = "http",
	.open = http_open,
	.stat = http_stat,
};

/* The plugin's one export (io/source.h). */
const struct tfs_source_plugin *tfs_http_source_v1(void)
{
	static const struct tfs_source_plugin plugin = {
		.abi = TFS_SOURCE_PLUGIN_ABI,
		.scheme_size = sizeof(struct tfs_source_scheme),
		.ops_size = sizeof(struct tfs_source_ops),
		.source_size = sizeof(struct tfs_source),
		.scheme = &http_scheme,
	};

	return &plugin;
}
