/*
 * bulkread.c - the bench's "limit": reads whole files with N threads in large aligned pieces, the
 * fastest plain way to move a checkpoint's shards off the disk (no mount, no order, no parsing).
 * Cold and throttled figures are ratios against it.
 *
 *   bulkread [-t THREADS] [-b PIECE] FILE...
 *
 * Every file is cut into PIECE-sized pieces (default 16 MiB); THREADS threads (default 8) take the
 * next piece from one shared counter and pread it into their own buffer, so the disk always has
 * THREADS requests of PIECE bytes in flight. Prints "bytes=N secs=S files=F" (the time covers the
 * reads only: opens happen before the clock starts). Exit status 1 on any error or short read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct file {
	const char *path;
	int fd;
	uint64_t size, first_piece; /* first_piece: index of its first piece in the global count */
};

struct job {
	struct file *files;
	int nfiles;
	uint64_t piece, npieces;
	atomic_uint_fast64_t next;  /* next global piece to read */
	atomic_uint_fast64_t bytes; /* bytes read by all threads */
	atomic_int failed;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	unsigned char *buf = aligned_alloc(4096, (j->piece + 4095) & ~(uint64_t)4095);

	if (!buf) {
		fprintf(stderr, "bulkread: out of memory for a %" PRIu64 "-byte buffer\n", j->piece);
		atomic_store(&j->failed, 1);
		return NULL;
	}
	for (;;) {
		uint64_t p = atomic_fetch_add(&j->next, 1), off, end, done;
		int f = 0;

		if (p >= j->npieces || atomic_load(&j->failed))
			break;
		while (f + 1 < j->nfiles && j->files[f + 1].first_piece <= p)
			f++;
		off = (p - j->files[f].first_piece) * j->piece;
		end = off + j->piece < j->files[f].size ? off + j->piece : j->files[f].size;
		for (done = off; done < end;) {
			ssize_t got = pread(j->files[f].fd, buf, end - done, (off_t)done);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				fprintf(stderr, "bulkread: %s: pread at %" PRIu64 ": %s\n", j->files[f].path,
					done, got < 0 ? strerror(errno) : "unexpected end of file");
				atomic_store(&j->failed, 1);
				break;
			}
			done += (uint64_t)got;
		}
		atomic_fetch_add(&j->bytes, done - off);
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 8, c, nt = 0;
	uint64_t piece = 16u << 20, np = 0;
	struct job j;
	pthread_t *tid;
	double t0, t1;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: bulkread [-t THREADS] [-b PIECE] FILE...\n");
		return 0;
	}
	while ((c = getopt(argc, argv, "t:b:h")) != -1) {
		switch (c) {
		case 't': threads = atoi(optarg); break;
		case 'b': piece = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: bulkread [-t THREADS] [-b PIECE] FILE...\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc || threads < 1 || threads > 256 || piece < 4096) {
		fprintf(stderr, "usage: bulkread [-t THREADS 1-256] [-b PIECE >= 4096] FILE...\n");
		return 2;
	}
	memset(&j, 0, sizeof(j));
	j.nfiles = argc - optind;
	j.piece = piece;
	j.files = calloc((size_t)j.nfiles, sizeof(*j.files));
	tid = calloc((size_t)threads, sizeof(*tid));
	if (!j.files || !tid)
		return 1;
	for (int i = 0; i < j.nfiles; i++) {
		struct stat st;
		struct file *f = &j.files[i];

		f->path = argv[optind + i];
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0 || fstat(f->fd, &st) != 0) {
			fprintf(stderr, "bulkread: %s: %s\n", f->path, strerror(errno));
			return 1;
		}
		f->size = (uint64_t)st.st_size;
		f->first_piece = np;
		np += (f->size + piece - 1) / piece;
	}
	j.npieces = np;
	t0 = now_s();
	for (nt = 0; nt < threads; nt++)
		if (pthread_create(&tid[nt], NULL, worker, &j) != 0) {
			fprintf(stderr, "bulkread: cannot start thread %d\n", nt);
			atomic_store(&j.failed, 1);
			break;
		}
	for (int i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	t1 = now_s();
	if (atomic_load(&j.failed))
		return 1;
	printf("bytes=%" PRIu64 " secs=%.6f files=%d\n", (uint64_t)atomic_load(&j.bytes), t1 - t0,
	       j.nfiles);
	return 0;
}
