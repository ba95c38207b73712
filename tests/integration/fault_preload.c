/*
 * fault_preload.c - an LD_PRELOAD shim that makes one file "unreadable" inside a running daemon:
 * while the file named by $TFS_FAULT_ARM exists, every read of a descriptor whose path contains
 * $TFS_FAULT_PATH fails with EIO, as a failing disk would. Root ignores permissions and the daemon
 * reads through descriptors it opened at mount, so neither chmod nor unlinking can produce this.
 * Built on the fly by t_fault_eio.sh: cc -shared -fPIC -o fault_preload.so fault_preload.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int hit(int fd)
{
	const char *want = getenv("TFS_FAULT_PATH"), *arm = getenv("TFS_FAULT_ARM");
	char link[64], target[4096];
	ssize_t n;
	int saved = errno;

	if (!want || !arm || access(arm, F_OK) != 0) {
		errno = saved;
		return 0;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	errno = saved;
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return strstr(target, want) != NULL;
}

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*preadv_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*read_fn)(int, void *, size_t);

#define WRAP(name, fn_type, params, args)                          \
	ssize_t name params                                        \
	{                                                          \
		static fn_type real;                               \
		if (!real)                                         \
			real = (fn_type)dlsym(RTLD_NEXT, #name);   \
		if (hit(fd)) {                                     \
			errno = EIO;                               \
			return -1;                                 \
		}                                                  \
		return real args;                                  \
	}

WRAP(pread64, pread_fn, (int fd, void *buf, size_t len, off_t off), (fd, buf, len, off))
WRAP(pread, pread_fn, (int fd, void *buf, size_t len, off_t off), (fd, buf, len, off))
WRAP(preadv64, preadv_fn, (int fd, const struct iovec *iov, int cnt, off_t off), (fd, iov, cnt, off))
WRAP(preadv, preadv_fn, (int fd, const struct iovec *iov, int cnt, off_t off), (fd, iov, cnt, off))
WRAP(read, read_fn, (int fd, void *buf, size_t len), (fd, buf, len))
