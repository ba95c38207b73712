/*
 * test_source_http.c - loader/io/source_http.c against a real nginx on 127.0.0.1 (tests/http/
 * nginx.sh with tests/http/nginx.conf.in): exact bytes from many threads at once, and each fault
 * the source must turn into an error instead of wrong bytes or a hang: 404, 503, a server that
 * ignores Range, a wrong Content-Range, a body shorter or longer than asked, a slow server, nginx stopped mid-read and restarted, a file
 * replaced on the server; plus --header, and s3:// through --s3-endpoint with a SigV4 header.
 * Skipped when nginx is not installed (make deps installs it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "io/source.h"

#define FILE_SIZE (5u * 1024 * 1024 + 777)

struct fx {
	char dir[64], root[96], state[96];
	int port;
	unsigned char *data;   /* the served a.bin */
};

static struct fx g; /* the group's server; cmocka passes state per test, the server is shared */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void write_file(const char *path, const void *d, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, n, f), n);
	fclose(f);
}

static int group_setup(void **state)
{
	char path[256];
	FILE *p;

	if (access("/usr/sbin/nginx", X_OK) != 0 && sh("command -v nginx >/dev/null") != 0)
		return 0; /* each test skips */
	snprintf(g.dir, sizeof(g.dir), "/tmp/tfs-http.XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	snprintf(g.root, sizeof(g.root), "%s/www", g.dir);
	snprintf(g.state, sizeof(g.state), "%s/nginx", g.dir);
	mkdir(g.root, 0755);
	g.data = malloc(FILE_SIZE);
	for (size_t i = 0; i < FILE_SIZE; i++)
		g.data[i] = (unsigned char)((i * 2654435761u) >> 13);
	snprintf(path, sizeof(path), "%s/a.bin", g.root);
	write_file(path, g.data, FILE_SIZE);
	snprintf(path, sizeof(path), "%s/empty.bin", g.root);
	write_file(path, "", 0);
	snprintf(path, sizeof(path), "tests/http/nginx.sh start %s %s", g.state, g.root);
	p = popen(path, "r");
	if (!p || fscanf(p, "%d", &g.port) != 1)
		g.port = 0;
	if (p)
		pclose(p);
	setenv("TENSORFS_HTTP_TIMEOUT", "3", 1);
	setenv("TENSORFS_HTTP_RETRIES", "5", 1);
	return g.port ? 0 : -1;
}

static int group_teardown(void **state)
{
	if (g.dir[0]) {
		sh("tests/http/nginx.sh stop %s", g.state);
		sh("rm -rf %s", g.dir);
	}
	free(g.data);
	return 0;
}

static char *url(const char *loc, const char *name)
{
	static char u[256]; /* one test thread */

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/%s/%s", g.port, loc, name);
	return u;
}

#define NEED_SERVER() do { if (!g.port) skip(); } while (0)

static void test_exact_bytes(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	size_t n = 2u << 20;
	char *buf = malloc(n);

	NEED_SERVER();
	assert_int_equal(tfs_source_open(url("ok", "a.bin"), NULL, &s, &err), 0);
	assert_int_equal(s->info.size, FILE_SIZE);
	assert_true(s->info.mtime_ns > 0);
	assert_int_equal(tfs_source_read(s, buf, n, 0, 0, &err), n);
	assert_memory_equal(buf, g.data, n);
	assert_int_equal(tfs_source_read(s, buf, 4096, 12345, 0, &err), 4096);
	assert_memory_equal(buf, g.data + 12345, 4096);
	/* The last block is short: exactly the bytes up to the end. */
	assert_int_equal(tfs_source_read(s, buf, n, 2 * n, 0, &err), FILE_SIZE - 2 * n);
	assert_memory_equal(buf, g.data + 2 * n, FILE_SIZE - 2 * n);
	assert_int_equal(tfs_source_read(s, buf, n, FILE_SIZE, 0, &err), 0);
	assert_int_equal(tfs_source_check(s, &err), 0);
	tfs_source_close(s);
	free(buf);
}

struct par {
	struct tfs_source *s;
	unsigned id;
	int bad;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	size_t bs = 256 * 1024;
	char *buf = malloc(bs);
	struct tfs_error err;

	for (uint64_t off = p->id * bs; off < FILE_SIZE; off += 8 * bs) {
		size_t want = FILE_SIZE - off < bs ? FILE_SIZE - off : bs;
		if (tfs_source_read(p->s, buf, bs, off, 0, &err) != (ssize_t)want ||
		    memcmp(buf, g.data + off, want) != 0)
			p->bad++;
	}
	free(buf);
	return NULL;
}

/* Eight threads on one source: every block exact (each thread its own handle and connection). */
static void test_parallel(void **state)
{
	struct par p[8];
	pthread_t t[8];
	struct tfs_source *s;
	struct tfs_error err;

	NEED_SERVER();
	assert_int_equal(tfs_source_open(url("ok", "a.bin"), NULL, &s, &err), 0);
	for (unsigned i = 0; i < 8; i++) {
		p[i] = (struct par){ s, i, 0 };
		pthread_create(&t[i], NULL, par_main, &p[i]);
	}
	for (unsigned i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].bad, 0);
	}
	tfs_source_close(s);
}

static void test_empty_file(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char c;

	NEED_SERVER();
	assert_int_equal(tfs_source_open(url("ok", "empty.bin"), NULL, &s, &err), 0);
	assert_int_equal(s->info.size, 0);
	assert_int_equal(tfs_source_read(s, &c, 1, 0, 0, &err), 0);
	tfs_source_close(s);
}

static void expect_open_error(const char *u, int code, const char *what, double max_s)
{
	struct tfs_source *s = NULL;
	struct tfs_error err;
	double t0 = now_s();

	assert_int_equal(tfs_source_open(u, NULL, &s, &err), code);
	assert_null(s);
	if (!strstr(err.msg, what) || !strstr(err.msg, u))
		fail_msg("'%s' lacks '%s' or the URL", err.msg, what);
	assert_true(now_s() - t0 < max_s);
}

static void test_not_found(void **state)
{
	NEED_SERVER();
	expect_open_error(url("ok", "missing.bin"), -ENOENT, "404", 1);
}

/* 503 is retried with backoff, then EIO once the 3 s budget is spent: within seconds. */
static void test_503(void **state)
{
	double t0 = now_s();

	NEED_SERVER();
	expect_open_error(url("fail503", "a.bin"), -EIO, "HTTP 503", 5);
	assert_true(now_s() - t0 > 1.0); /* it did retry */
}

static void test_ignores_range(void **state)
{
	NEED_SERVER();
	expect_open_error(url("norange", "a.bin"), -EIO, "ignored the Range", 2);
}

static void test_wrong_content_range(void **state)
{
	NEED_SERVER();
	expect_open_error(url("badrange", "a.bin"), -EIO, "Content-Range", 2);
}

static void test_short_and_long_body(void **state)
{
	NEED_SERVER();
	expect_open_error(url("shortbody", "a.bin"), -EIO, "short body", 2);
	expect_open_error(url("longbody", "a.bin"), -EIO, "more than the 1 bytes asked", 2);
}

/* Lines of nginx's log NAME in the state folder so far (0 before it exists). */
static int count_lines(const char *name)
{
	char path[256];
	FILE *f;
	int n = 0, c;

	snprintf(path, sizeof(path), "%s/%s", g.state, name);
	f = fopen(path, "r");
	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/* A redirected URL (the Hub's resolve URLs): exact bytes, and after the first range only the
 * target is asked, one request per block instead of two. */
static void test_redirect_followed_once(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char buf[8192];
	int before;

	NEED_SERVER();
	before = count_lines("redir.log");
	assert_int_equal(tfs_source_open(url("redir", "a.bin"), NULL, &s, &err), 0);
	assert_int_equal(s->info.size, FILE_SIZE);
	for (uint64_t off = 0; off < 5 * sizeof(buf); off += sizeof(buf)) {
		assert_int_equal(tfs_source_read(s, buf, sizeof(buf), off, 0, &err), sizeof(buf));
		assert_memory_equal(buf, g.data + off, sizeof(buf));
	}
	tfs_source_close(s);
	usleep(200 * 1000); /* nginx writes its access log after the response */
	assert_int_equal(count_lines("redir.log") - before, 1);
}

/* A redirect target that starts answering wrong ranges (a CDN node gone bad) is forgotten, as a
 * failing one is: the read asks the original URL again, which now leads elsewhere. */
static void test_bad_redirect_target_forgotten(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char buf[4096], flag[256];

	NEED_SERVER();
	snprintf(flag, sizeof(flag), "%s/flip.bad", g.root);
	assert_int_equal(tfs_source_open(url("redirflip", "a.bin"), NULL, &s, &err), 0);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 0, 0, &err), sizeof(buf));
	write_file(flag, "", 0);
	if (tfs_source_read(s, buf, sizeof(buf), 8192, 0, &err) != sizeof(buf))
		fail_msg("the read after the target went bad failed: %s", err.msg);
	assert_memory_equal(buf, g.data + 8192, sizeof(buf));
	unlink(flag);
	tfs_source_close(s);
}

/* A server at 512 KiB/s: slow, never wrong, never a timeout while bytes flow. */
static void test_slow_server(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	size_t n = 1u << 20;
	char *buf = malloc(n);

	NEED_SERVER();
	setenv("TENSORFS_HTTP_TIMEOUT", "20", 1);
	assert_int_equal(tfs_source_open(url("slow", "a.bin"), NULL, &s, &err), 0);
	setenv("TENSORFS_HTTP_TIMEOUT", "3", 1);
	assert_int_equal(tfs_source_read(s, buf, n, 3 * n, 0, &err), n);
	assert_memory_equal(buf, g.data + 3 * n, n);
	tfs_source_close(s);
	free(buf);
}

/* Server down: EIO within the budget, and the same source reads again once it is back. */
static void test_server_down_then_back(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char buf[65536];
	double t0;

	NEED_SERVER();
	assert_int_equal(tfs_source_open(url("ok", "a.bin"), NULL, &s, &err), 0);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 0, 0, &err), sizeof(buf));
	assert_int_equal(sh("tests/http/nginx.sh stop %s", g.state), 0);
	t0 = now_s();
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 65536, 0, &err), -EIO);
	assert_true(now_s() - t0 < 5);
	assert_non_null(strstr(err.msg, "gave up"));
	assert_int_equal(sh("tests/http/nginx.sh restart %s >/dev/null", g.state), 0);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 65536, 0, &err), sizeof(buf));
	assert_memory_equal(buf, g.data + 65536, sizeof(buf));
	assert_int_equal(tfs_source_check(s, &err), 0);
	tfs_source_close(s);
}

struct bg_read {
	struct tfs_source *s;
	char *buf;
	size_t n;
	ssize_t rc;
	struct tfs_error err;
};

static void *bg_main(void *arg)
{
	struct bg_read *b = arg;

	b->rc = tfs_source_read(b->s, b->buf, b->n, 0, 0, &b->err);
	return NULL;
}

/* nginx stopped while a slow 2 MiB transfer is half done, back a second later: the read retries
 * and returns every byte exact. */
static void test_stopped_mid_read(void **state)
{
	struct bg_read b = { .n = 2u << 20 };
	pthread_t t;

	NEED_SERVER();
	setenv("TENSORFS_HTTP_TIMEOUT", "60", 1); /* a loaded machine may take seconds to restart */
	setenv("TENSORFS_HTTP_RETRIES", "40", 1);
	assert_int_equal(tfs_source_open(url("slow", "a.bin"), NULL, &b.s, &b.err), 0);
	setenv("TENSORFS_HTTP_TIMEOUT", "3", 1);
	setenv("TENSORFS_HTTP_RETRIES", "5", 1);
	b.buf = malloc(b.n);
	pthread_create(&t, NULL, bg_main, &b);
	usleep(1500 * 1000);
	assert_int_equal(sh("tests/http/nginx.sh stop %s", g.state), 0);
	usleep(1000 * 1000);
	assert_int_equal(sh("tests/http/nginx.sh restart %s >/dev/null", g.state), 0);
	pthread_join(t, NULL);
	if (b.rc != (ssize_t)b.n)
		fail_msg("read: %zd: %s", b.rc, b.err.msg);
	assert_memory_equal(b.buf, g.data, b.n);
	free(b.buf);
	tfs_source_close(b.s);
}

/* The file is replaced on the server (same size, new bytes and time): EIO from then on. */
static void test_changed_on_server(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char buf[4096], path[256];
	struct timeval tv[2];

	NEED_SERVER();
	snprintf(path, sizeof(path), "%s/b.bin", g.root);
	write_file(path, g.data, FILE_SIZE);
	assert_int_equal(tfs_source_open(url("ok", "b.bin"), NULL, &s, &err), 0);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 0, 0, &err), sizeof(buf));
	g.data[100]++;
	write_file(path, g.data, FILE_SIZE);
	g.data[100]--;
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec += 10;
	tv[1] = tv[0];
	utimes(path, tv);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 0, 0, &err), -EIO);
	assert_non_null(strstr(err.msg, "changed on the server"));
	assert_int_equal(tfs_source_check(s, &err), -EIO);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 8192, 0, &err), -EIO);
	tfs_source_close(s);
}

/* TENSORFS_HTTP_HEADERS (what --header sets) reaches the server. */
static void test_headers(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;

	NEED_SERVER();
	expect_open_error(url("hdr", "a.bin"), -EACCES, "403", 1);
	setenv("TENSORFS_HTTP_HEADERS", "X-Other: 1\nX-Test: 42", 1);
	assert_int_equal(tfs_source_open(url("hdr", "a.bin"), NULL, &s, &err), 0);
	tfs_source_close(s);
	setenv("TENSORFS_HTTP_HEADERS", "no colon", 1);
	expect_open_error(url("hdr", "a.bin"), -EINVAL, "bad header", 1);
	unsetenv("TENSORFS_HTTP_HEADERS");
}

/* All of nginx's log NAME in the state folder, once nginx wrote it (after the response): a string
 * the caller frees. */
static char *read_log(const char *name)
{
	char path[256], *text = NULL;
	size_t cap = 0;
	FILE *f;

	usleep(200 * 1000);
	snprintf(path, sizeof(path), "%s/%s", g.state, name);
	f = fopen(path, "r");
	assert_non_null(f);
	if (getdelim(&text, &cap, '\0', f) < 0) { /* a text log holds no NUL: the whole file */
		free(text);
		text = strdup("");
	}
	fclose(f);
	return text;
}

/* The S3 settings of the tests: path-style through the test server's /s3/, signed as AKIDTEST. */
static void s3_env_set(void)
{
	char ep[128];

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/s3/", g.port);
	setenv("AWS_ENDPOINT_URL", ep, 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
}

static void s3_env_unset(void)
{
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_REGION");
}

/* s3://bucket/key through --s3-endpoint (AWS_ENDPOINT_URL): path-style, signed. */
static void test_s3_endpoint(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char buf[4096], *log;

	NEED_SERVER();
	s3_env_set();
	setenv("AWS_REGION", "eu-west-1", 1);
	assert_int_equal(tfs_source_open("s3://bucket/a.bin", NULL, &s, &err), 0);
	assert_int_equal(s->info.size, FILE_SIZE);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 777, 0, &err), sizeof(buf));
	assert_memory_equal(buf, g.data + 777, sizeof(buf));
	tfs_source_close(s);
	assert_int_equal(tfs_source_open("s3://bucket", NULL, &s, &err), -EINVAL);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(tfs_source_open("s3://bucket/a.bin", NULL, &s, &err), -EINVAL);
	s3_env_unset();
	log = read_log("s3.log");
	assert_non_null(strchr(log, '\n'));
	*strchr(log, '\n') = '\0'; /* the first request's line */
	if (strncmp(log, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37) != 0 ||
	    !strstr(log, "/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;"
			 "x-amz-date, Signature=") ||
	    !strstr(log, "|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
		fail_msg("unexpected S3 request headers: %s", log);
	free(log);
}

/* HF_TOKEN goes to the Hub's hosts only: in http://huggingface.co:x@HOST/ the Hub's name is a
 * user name, and the request goes to HOST. */
static void test_hf_token_not_to_userinfo_host(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char u[256], *log;

	NEED_SERVER();
	setenv("HF_TOKEN", "SECRET123", 1);
	snprintf(u, sizeof(u), "http://huggingface.co:x@127.0.0.1:%d/auth/a.bin", g.port);
	assert_int_equal(tfs_source_open(u, NULL, &s, &err), 0);
	tfs_source_close(s);
	assert_int_equal(tfs_source_open(url("auth", "a.bin"), NULL, &s, &err), 0);
	tfs_source_close(s);
	unsetenv("HF_TOKEN");
	log = read_log("auth.log");
	if (strstr(log, "SECRET123"))
		fail_msg("HF_TOKEN sent to 127.0.0.1: %s", log);
	free(log);
	assert_int_equal(count_lines("auth.log"), 2); /* both probes logged */
}

/* S3 keys as written (dot segments are part of the name, and cannot leave the bucket), a session
 * token of any length sent whole, a signing failure said as such. */
static void test_s3_keys_tokens_signing(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char *log, *line, *tok = malloc(3001), *key = malloc(801);

	NEED_SERVER();
	memset(tok, 'T', 3000);
	tok[3000] = '\0';
	s3_env_set();
	setenv("AWS_SESSION_TOKEN", tok, 1);
	assert_int_equal(tfs_source_open("s3://bucket/dir/../a.bin", NULL, &s, &err), 0);
	tfs_source_close(s);
	log = read_log("s3.log");
	line = log + strlen(log); /* the last line: back past its newline to the one before */
	if (line > log && line[-1] == '\n')
		*--line = '\0';
	while (line > log && line[-1] != '\n')
		line--;
	if (!strstr(line, "|/s3/bucket/dir/../a.bin|"))
		fail_msg("the key was not sent as written: %.200s", line);
	if (!strstr(line, tok))
		fail_msg("the session token was not sent whole (%zu bytes logged)", strlen(line));
	free(log);
	unsetenv("AWS_SESSION_TOKEN");
	memset(key, 'K', 800);
	key[800] = '\0';
	setenv("AWS_ACCESS_KEY_ID", key, 1);
	assert_int_equal(tfs_source_open("s3://bucket/a.bin", NULL, &s, &err), -EINVAL);
	if (!strstr(err.msg, "cannot sign") || !strstr(err.msg, "s3://bucket/a.bin"))
		fail_msg("unexpected message: %s", err.msg);
	s3_env_unset();
	free(tok);
	free(key);
}

/* A file removed from the server after it was opened: EIO, and changed, as a deleted shard. */
static void test_gone_after_open(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	char buf[4096], path[256];

	NEED_SERVER();
	snprintf(path, sizeof(path), "%s/gone.bin", g.root);
	write_file(path, g.data, FILE_SIZE);
	assert_int_equal(tfs_source_open(url("ok", "gone.bin"), NULL, &s, &err), 0);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 0, 0, &err), sizeof(buf));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(tfs_source_read(s, buf, sizeof(buf), 4096, 0, &err), -EIO);
	if (!strstr(err.msg, "changed on the server") || !strstr(err.msg, "404"))
		fail_msg("unexpected message: %s", err.msg);
	assert_int_equal(tfs_source_check(s, &err), -EIO);
	tfs_source_close(s);
}

/* Nothing listening: each attempt and its backoff, none after the last, and the message says so. */
static void test_gave_up(void **state)
{
	struct tfs_source *s;
	struct tfs_error err;
	double t0;

	NEED_SERVER();
	setenv("TENSORFS_HTTP_RETRIES", "2", 1);
	t0 = now_s();
	assert_int_equal(tfs_source_open("http://127.0.0.1:1/a.bin", NULL, &s, &err), -EIO);
	setenv("TENSORFS_HTTP_RETRIES", "5", 1);
	if (!strstr(err.msg, "gave up after 3 attempts in ") || !strstr(err.msg, "http://127.0.0.1:1/a.bin"))
		fail_msg("unexpected message: %s", err.msg);
	/* backoffs of 0.1 and 0.2 s; a third sleep after the last attempt would make it 0.7 s */
	assert_true(now_s() - t0 < 0.6);
}

/* Messages never show a URL's password; header values cannot carry a line break. */
static void test_secrets_and_line_breaks(void **state)
{
	struct tfs_source *s = NULL;
	struct tfs_error err;
	char u[256], shown[256];

	NEED_SERVER();
	snprintf(u, sizeof(u), "http://user:pw5ecret@127.0.0.1:%d/ok/missing.bin?X-Sig=k3y", g.port);
	snprintf(shown, sizeof(shown), "http://127.0.0.1:%d/ok/missing.bin", g.port);
	assert_int_equal(tfs_source_open(u, NULL, &s, &err), -ENOENT);
	if (strstr(err.msg, "pw5ecret") || strstr(err.msg, "k3y") || !strstr(err.msg, shown))
		fail_msg("unexpected message: %s", err.msg);
	setenv("TENSORFS_HTTP_HEADERS", "X-Test: 42\r\nX-Injected: 1", 1);
	assert_int_equal(tfs_source_open(url("hdr", "a.bin"), NULL, &s, &err), -EINVAL);
	unsetenv("TENSORFS_HTTP_HEADERS");
	setenv("HF_TOKEN", "abc\r\nX-Injected: 1", 1);
	assert_int_equal(tfs_source_open("https://huggingface.co/org/repo/resolve/main/x.safetensors",
					 NULL, &s, &err), -EINVAL);
	unsetenv("HF_TOKEN");
	if (!strstr(err.msg, "HF_TOKEN"))
		fail_msg("unexpected message: %s", err.msg);
	assert_null(s);
}

static void test_match(void **state)
{
	assert_true(tfs_source_is_url("https://huggingface.co/x/y/resolve/main/"));
	assert_true(tfs_source_is_url("http://h/x.safetensors"));
	assert_true(tfs_source_is_url("s3://b/k"));
	assert_false(tfs_source_is_url("/tmp/http://x"));
	assert_false(tfs_source_is_url("ftp://h/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_503),
		cmocka_unit_test(test_ignores_range),
		cmocka_unit_test(test_wrong_content_range),
		cmocka_unit_test(test_short_and_long_body),
		cmocka_unit_test(test_redirect_followed_once),
		cmocka_unit_test(test_bad_redirect_target_forgotten),
		cmocka_unit_test(test_slow_server),
		cmocka_unit_test(test_server_down_then_back),
		cmocka_unit_test(test_stopped_mid_read),
		cmocka_unit_test(test_changed_on_server),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_s3_endpoint),
		cmocka_unit_test(test_hf_token_not_to_userinfo_host),
		cmocka_unit_test(test_s3_keys_tokens_signing),
		cmocka_unit_test(test_gone_after_open),
		cmocka_unit_test(test_gave_up),
		cmocka_unit_test(test_secrets_and_line_breaks),
	};
	return cmocka_run_group_tests_name("source_http", tests, group_setup, group_teardown);
}
