/*
 * sourcecat.c - reads whole files through libtensorfs' byte source (loader/io/source.h) with N
 * threads, each taking every N-th 2 MiB block, and prints "BYTES SECONDS". bench/remote.sh uses it
 * to time the HTTP source alone, without the engine and the load pipeline above it.
 *   sourcecat N URL...
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/source.h"

#define BS (2u << 20)

struct job {
	struct tfs_source *s;
	unsigned id, n;
	int failed;
};

static void *run(void *arg)
{
	struct job *j = arg;
	char *buf = malloc(BS);
	struct tfs_error err;

	for (uint64_t off = (uint64_t)j->id * BS; buf && off < j->s->info.size; off += (uint64_t)j->n * BS)
		if (tfs_source_read(j->s, buf, BS, off, 0, &err) < 0) {
			fprintf(stderr, "sourcecat: %s\n", err.msg);
			j->failed = 1;
			break;
		}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 2 ? (unsigned)atoi(argv[1]) : 0;
	struct timespec a, b;
	uint64_t total = 0;
	int rc = 0;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: sourcecat N URL...   (N threads read every URL in 2 MiB ranges; prints BYTES SECONDS)\n");
		return 0;
	}
	if (n < 1 || n > 256) {
		fprintf(stderr, "usage: sourcecat N URL...\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int f = 2; f < argc && rc == 0; f++) {
		struct job *jobs = calloc(n, sizeof(*jobs));
		pthread_t *th = calloc(n, sizeof(*th));
		struct tfs_source *s;
		struct tfs_error err;

		if (!jobs || !th || tfs_source_open(argv[f], NULL, &s, &err) < 0) {
			fprintf(stderr, "sourcecat: %s\n", jobs && th ? err.msg : "out of memory");
			return 1;
		}
		for (unsigned i = 0; i < n; i++) {
			jobs[i] = (struct job){ s, i, n, 0 };
			pthread_create(&th[i], NULL, run, &jobs[i]);
		}
		for (unsigned i = 0; i < n; i++) {
			pthread_join(th[i], NULL);
			rc |= jobs[i].failed;
		}
		total += s->info.size;
		tfs_source_close(s);
		free(jobs);
		free(th);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%llu %.4f\n", (unsigned long long)total,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return rc;
}
