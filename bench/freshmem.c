/*
 * freshmem.c - times the first write to fresh memory, allocated the way `tensorfs load --device
 * cpu` allocates host tensors (loader/place/backend_host.c: 2 MiB-aligned, MADV_HUGEPAGE), with N
 * threads each writing its share once, and prints "BYTES SECONDS". bench/remote.sh runs it beside
 * the load: a load must land every byte in fresh memory, curl writing to /dev/null lands none, and
 * on a VM that hands freed memory back to its host (free page reporting) the first write of each
 * page costs a fault in the host as well as in the guest.
 *   freshmem [-s] N MIB     -s: 4 KiB pages (MADV_NOHUGEPAGE) instead of huge pages
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define HUGE (2ul << 20)

struct part {
	char *p;
	size_t len;
};

static void *touch(void *arg)
{
	struct part *t = arg;

	memset(t->p, 1, t->len);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: freshmem [-s] N MIB   (N threads write MIB MiB of fresh memory once, huge\n"
		   "pages as tensorfs load asks for them, or 4 KiB pages with -s; prints BYTES SECONDS)\n");
}

int main(int argc, char **argv)
{
	int small = 0, a = 1;
	unsigned n;
	size_t len;
	struct timespec t0, t1;
	pthread_t th[256];
	struct part parts[256];
	char *base, *p;

	if (argc > 1 && strcmp(argv[1], "--help") == 0)
		return usage(stdout), 0;
	if (argc > 1 && strcmp(argv[1], "-s") == 0)
		small = 1, a = 2;
	if (argc != a + 2)
		return usage(stderr), 2;
	n = (unsigned)atoi(argv[a]);
	len = (size_t)strtoull(argv[a + 1], NULL, 10) << 20;
	if (n < 1 || n > 256 || len == 0)
		return usage(stderr), 2;
	base = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		perror("freshmem: mmap");
		return 1;
	}
	p = (char *)(((unsigned long)base + HUGE - 1) & ~(HUGE - 1));
	madvise(p, len, small ? MADV_NOHUGEPAGE : MADV_HUGEPAGE); /* a hint, as in the loader */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < n; i++) {
		/* Shares in whole huge pages, so no two threads fault the same one. */
		size_t a0 = len / HUGE * i / n * HUGE, a1 = i + 1 == n ? len : len / HUGE * (i + 1) / n * HUGE;

		parts[i] = (struct part){ p + a0, a1 - a0 };
		if (pthread_create(&th[i], NULL, touch, &parts[i]) != 0) {
			perror("freshmem: pthread_create");
			return 1;
		}
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%zu %.4f\n", len, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	munmap(base, len + HUGE);
	return 0;
}
