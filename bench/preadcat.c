/*
 * preadcat.c - the bench's reader: reads a list of byte ranges with pread, in the list's order,
 * and says how long that took. Used for both sides of a comparison, so the only difference between
 * "through the mount" and "direct" is the path and offset on each line.
 *
 *   preadcat [-b BUFSIZE] [-k] [-c] [-e] [-m] [-t THREADS] LIST
 *
 * LIST has one range per line: OFFSET<TAB>LENGTH<TAB>PATH (PATH last, so it may hold spaces).
 * Each range is read with pread in BUFSIZE pieces (default 1 MiB) into one reused buffer.
 *   -k  keep files open: open each distinct PATH once (direct reads of shards); without -k every
 *       line is open + read + close (a `cat` of a tensor file through the mount, lookups included)
 *   -c  fold the bytes into a checksum (to compare the mount with the shards; costs CPU time)
 *   -e  evict instead of read: posix_fadvise(DONTNEED) on each distinct PATH (cold-cache fallback
 *       when /proc/sys/vm/drop_caches is not writable)
 *   -m  mmap instead of pread (implies -k): each distinct PATH is mapped once (MAP_SHARED, before
 *       the clock starts) and each range is copied out of the mapping in BUFSIZE pieces, as a
 *       safetensors reader does when it turns its mmap into tensors; the page faults do the I/O
 *   -t  THREADS readers (default 1) take the next line from one shared counter (8 readers on
 *       different tensors); -c needs one thread (the checksum depends on the order)
 *
 * Prints one line: "bytes=N secs=S files=F sum=X" (sum=0 without -c). The time covers the reads
 * only (list parsing excluded). Exit status 1 on any error or short read, naming the range.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct range {
	uint64_t off, len;
	char *path;
	int fd_slot; /* -k: index into the fd table */
};

/* What the reader threads share; slot_fd/slot_map are filled before they start (-k, -m). */
struct job {
	struct range *r;
	size_t n, bufsz;
	int keep, sum, use_mmap;
	int *slot_fd;
	unsigned char **slot_map;
	uint64_t *slot_size;
	atomic_size_t next;         /* next line to read */
	atomic_uint_fast64_t total; /* bytes read by all threads */
	atomic_int failed;
	uint64_t h;                 /* -c checksum (one thread only) */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* FNV-1a over bytes: independent of how the reads were split. */
static uint64_t fold(const unsigned char *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void usage(void)
{
	fprintf(stderr, "usage: preadcat [-b BUFSIZE] [-k] [-c] [-e] [-m] [-t THREADS] LIST\n");
	exit(2);
}

/* Reads one range into buf in bufsz pieces (pread, or a copy out of the mapping); 0 or -1. */
static int read_range(struct job *j, const struct range *r, unsigned char *buf)
{
	int fd = j->keep ? j->slot_fd[r->fd_slot] : -1;
	uint64_t done = 0;

	if (j->use_mmap) {
		if (r->off + r->len > j->slot_size[r->fd_slot]) {
			fprintf(stderr, "preadcat: %s: range %" PRIu64 "+%" PRIu64 " past the end\n",
				r->path, r->off, r->len);
			return -1;
		}
		while (done < r->len) {
			size_t want = r->len - done < j->bufsz ? (size_t)(r->len - done) : j->bufsz;
			memcpy(buf, j->slot_map[r->fd_slot] + r->off + done, want);
			if (j->sum)
				j->h = fold(buf, want, j->h);
			done += want;
		}
		atomic_fetch_add(&j->total, done);
		return 0;
	}
	if (fd < 0) {
		fd = open(r->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "preadcat: %s: %s\n", r->path, strerror(errno));
			return -1;
		}
	}
	while (done < r->len) {
		size_t want = r->len - done < j->bufsz ? (size_t)(r->len - done) : j->bufsz;
		ssize_t got = pread(fd, buf, want, (off_t)(r->off + done));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			fprintf(stderr, "preadcat: %s: pread at %" PRIu64 ": %s\n", r->path,
				r->off + done, got < 0 ? strerror(errno) : "unexpected end of file");
			if (!j->keep)
				close(fd);
			return -1;
		}
		if (j->sum)
			j->h = fold(buf, (size_t)got, j->h);
		done += (uint64_t)got;
	}
	atomic_fetch_add(&j->total, done);
	if (!j->keep)
		close(fd);
	return 0;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	unsigned char *buf = aligned_alloc(4096, (j->bufsz + 4095) & ~(size_t)4095);

	if (!buf) {
		fprintf(stderr, "preadcat: out of memory for a %zu-byte buffer\n", j->bufsz);
		atomic_store(&j->failed, 1);
		return NULL;
	}
	memset(buf, 0, j->bufsz);
	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->n || atomic_load(&j->failed))
			break;
		if (read_range(j, &j->r[i], buf) != 0) {
			atomic_store(&j->failed, 1);
			break;
		}
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t bufsz = 1 << 20, n = 0, cap = 0, nslots = 0;
	int keep = 0, sum = 0, evict = 0, use_mmap = 0, threads = 1, c, nt;
	struct range *r = NULL;
	char **slot_path = NULL;
	int *slot_fd = NULL;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t ll;
	struct job j;
	pthread_t *tid;
	double t0, t1;
	FILE *f;

	while ((c = getopt(argc, argv, "b:kcemt:")) != -1) {
		switch (c) {
		case 'b': bufsz = strtoull(optarg, NULL, 0); break;
		case 'k': keep = 1; break;
		case 'c': sum = 1; break;
		case 'e': evict = keep = 1; break;
		case 'm': use_mmap = keep = 1; break;
		case 't': threads = atoi(optarg); break;
		default: usage();
		}
	}
	if (argc - optind != 1 || bufsz == 0 || threads < 1 || threads > 256 || (sum && threads > 1))
		usage();
	f = fopen(argv[optind], "r");
	if (!f) {
		fprintf(stderr, "preadcat: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	while ((ll = getline(&line, &lcap, f)) > 0) {
		char *p = line, *end;
		if (line[ll - 1] == '\n')
			line[--ll] = '\0';
		if (!*line)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			r = realloc(r, cap * sizeof(*r));
			if (!r)
				return 1;
		}
		r[n].off = strtoull(p, &end, 10);
		if (*end != '\t')
			goto bad;
		r[n].len = strtoull(end + 1, &end, 10);
		if (*end != '\t')
			goto bad;
		r[n].path = strdup(end + 1);
		r[n].fd_slot = -1;
		if (keep) {
			/* linear search from the most recent slot: lists hold few distinct shards */
			size_t s;
			for (s = nslots; s-- > 0;)
				if (strcmp(slot_path[s], r[n].path) == 0)
					break;
			if (s == (size_t)-1) {
				slot_path = realloc(slot_path, (nslots + 1) * sizeof(*slot_path));
				slot_fd = realloc(slot_fd, (nslots + 1) * sizeof(*slot_fd));
				slot_path[nslots] = r[n].path;
				slot_fd[nslots] = -1;
				s = nslots++;
			}
			r[n].fd_slot = (int)s;
		}
		n++;
		continue;
bad:
		fprintf(stderr, "preadcat: %s: bad line (want OFFSET<TAB>LENGTH<TAB>PATH): %s\n",
			argv[optind], line);
		return 1;
	}
	fclose(f);
	free(line);

	if (evict) {
		for (size_t s = 0; s < nslots; s++) {
			int fd = open(slot_path[s], O_RDONLY | O_CLOEXEC);
			if (fd < 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
				fprintf(stderr, "preadcat: evict %s: %s\n", slot_path[s], strerror(errno));
				return 1;
			}
			close(fd);
		}
		printf("bytes=0 secs=0 files=%zu sum=0\n", nslots);
		return 0;
	}

	memset(&j, 0, sizeof(j));
	j.r = r;
	j.n = n;
	j.bufsz = bufsz;
	j.keep = keep;
	j.sum = sum;
	j.use_mmap = use_mmap;
	j.h = 0xcbf29ce484222325ull;
	j.slot_fd = slot_fd;
	j.slot_map = calloc(nslots + 1, sizeof(*j.slot_map));
	j.slot_size = calloc(nslots + 1, sizeof(*j.slot_size));
	tid = calloc((size_t)threads, sizeof(*tid));
	if (!j.slot_map || !j.slot_size || !tid)
		return 1;
	/* open (and map) every distinct file before the clock starts, so threads share them */
	for (size_t s = 0; s < nslots; s++) {
		struct stat st;

		slot_fd[s] = open(slot_path[s], O_RDONLY | O_CLOEXEC);
		if (slot_fd[s] < 0 || fstat(slot_fd[s], &st) != 0) {
			fprintf(stderr, "preadcat: %s: %s\n", slot_path[s], strerror(errno));
			return 1;
		}
		j.slot_size[s] = (uint64_t)st.st_size;
		if (use_mmap && st.st_size > 0) {
			void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, slot_fd[s], 0);
			if (m == MAP_FAILED) {
				fprintf(stderr, "preadcat: mmap %s: %s\n", slot_path[s], strerror(errno));
				return 1;
			}
			j.slot_map[s] = m;
		}
	}
	t0 = now_s();
	for (nt = 0; nt < threads; nt++)
		if (pthread_create(&tid[nt], NULL, worker, &j) != 0) {
			fprintf(stderr, "preadcat: cannot start thread %d\n", nt);
			atomic_store(&j.failed, 1);
			break;
		}
	for (int i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	t1 = now_s();
	if (atomic_load(&j.failed))
		return 1;
	printf("bytes=%" PRIu64 " secs=%.6f files=%zu sum=%016" PRIx64 "\n",
	       (uint64_t)atomic_load(&j.total), t1 - t0, keep ? nslots : n, sum ? j.h : 0);
	return 0;
}
