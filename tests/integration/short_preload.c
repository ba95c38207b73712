/*
 * short_preload.c - an LD_PRELOAD shim that makes storage answer in short counts, as network and
 * FUSE filesystems do: every pread/preadv/read/splice/copy_file_range on a descriptor whose path
 * contains $TFS_SHORT_PATH transfers at most $TFS_SHORT_MAX bytes (default 1000, deliberately not a
 * multiple of the page size; O_DIRECT ones at whole pages, at least one) per call. Readers that loop until the full length see exact bytes;
 * one that trusts a single call returns a truncated tensor. Each process that had a call shortened
 * appends one line to $TFS_SHORT_LOG, so a test can tell the shim was active. $TFS_SHORT_DELAY_US
 * makes each shortened transfer also wait that many microseconds (slow storage).
 * Built on the fly by t_short_reads.sh: cc -shared -fPIC -o short_preload.so short_preload.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static atomic_int noted[2];

static void note_first(int direct);

static size_t cap(int fd, size_t len)
{
	const char *want = getenv("TFS_SHORT_PATH"), *max = getenv("TFS_SHORT_MAX");
	char link[64], target[4096];
	size_t m = max ? strtoul(max, NULL, 0) : 1000;
	ssize_t n;
	int saved = errno, direct;

	if (!want || len <= m)
		return len;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	errno = saved;
	if (n <= 0)
		return len;
	target[n] = '\0';
	if (!strstr(target, want))
		return len;
	/* O_DIRECT transfers stay whole pages: a short count as such storage would give. */
	direct = (fcntl(fd, F_GETFL) & O_DIRECT) != 0;
	if (direct)
		m = m < 4096 ? 4096 : m / 4096 * 4096;
	if (len > m)
		note_first(direct);
	if (getenv("TFS_SHORT_DELAY_US")) /* slow storage too: each transfer waits this long */
		usleep((useconds_t)strtoul(getenv("TFS_SHORT_DELAY_US"), NULL, 0));
	errno = saved;
	return len <= m ? len : m;
}

/* The first shortened call of a process, buffered and O_DIRECT apart, appends one line to
 * $TFS_SHORT_LOG (daemons may end with _exit, so no destructor). */
static void note_first(int direct)
{
	const char *log = getenv("TFS_SHORT_LOG");
	char line[64];
	int fd, n;

	if (!log || atomic_exchange(&noted[direct], 1))
		return;
	fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "pid %d: %sreads shortened\n", (int)getpid(),
		     direct ? "O_DIRECT " : "");
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

/* The next definition of `fn` (libc's), looked up once; `fn` is the wrapper, of the same type. */
#define REAL(fn) \
	static __typeof__(&fn) real; \
	if (!real) \
		real = (__typeof__(&fn))dlsym(RTLD_NEXT, #fn)

ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	REAL(pread64);
	return real(fd, buf, cap(fd, len), off);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	REAL(pread);
	return real(fd, buf, cap(fd, len), off);
}

ssize_t read(int fd, void *buf, size_t len)
{
	REAL(read);
	return real(fd, buf, cap(fd, len));
}

/* preadv: only the first iovec, and at most the cap of it. */
static ssize_t preadv_short(ssize_t (*real)(int, const struct iovec *, int, off_t), int fd,
			    const struct iovec *iov, int cnt, off_t off)
{
	struct iovec one;

	if (cnt < 1 || cap(fd, (size_t)-1) == (size_t)-1)
		return real(fd, iov, cnt, off);
	one = iov[0];
	one.iov_len = cap(fd, one.iov_len);
	return real(fd, &one, 1, off);
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	REAL(preadv);
	return preadv_short(real, fd, iov, cnt, off);
}

ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	REAL(preadv64);
	return preadv_short(real, fd, iov, cnt, off);
}

ssize_t splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t len, unsigned flags)
{
	REAL(splice);
	return real(in, in_off, out, out_off, cap(in, len), flags);
}

ssize_t copy_file_range(int in, loff_t *in_off, int out, loff_t *out_off, size_t len,
			unsigned flags)
{
	REAL(copy_file_range);
	return real(in, in_off, out, out_off, cap(in, len), flags);
}
