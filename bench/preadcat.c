/*
 * preadcat.c - the bench's reader: reads a list of byte ranges with pread, in the list's order,
 * and says how long that took. Used for both sides of a comparison, so the only difference between
 * "through the mount" and "direct" is the path and offset on each line.
 *
 *   preadcat [-b BUFSIZE] [-k] [-c] [-e] LIST
 *
 * LIST has one range per line: OFFSET<TAB>LENGTH<TAB>PATH (PATH last, so it may hold spaces).
 * Each range is read with pread in BUFSIZE pieces (default 1 MiB) into one reused buffer.
 *   -k  keep files open: open each distinct PATH once (direct reads of shards); without -k every
 *       line is open + read + close (a `cat` of a tensor file through the mount, lookups included)
 *   -c  fold the bytes into a checksum (to compare the mount with the shards; costs CPU time)
 *   -e  evict instead of read: posix_fadvise(DONTNEED) on each distinct PATH (cold-cache fallback
 *       when /proc/sys/vm/drop_caches is not writable)
 *
 * Prints one line: "bytes=N secs=S files=F sum=X" (sum=0 without -c). The time covers the reads
 * only (list parsing excluded). Exit status 1 on any error or short read, naming the range.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct range {
	uint64_t off, len;
	char *path;
	int fd_slot; /* -k: index into the fd table */
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
	fprintf(stderr, "usage: preadcat [-b BUFSIZE] [-k] [-c] [-e] LIST\n");
	exit(2);
}

int main(int argc, char **argv)
{
	size_t bufsz = 1 << 20, n = 0, cap = 0, nslots = 0;
	int keep = 0, sum = 0, evict = 0, c;
	struct range *r = NULL;
	char **slot_path = NULL;
	int *slot_fd = NULL;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t ll;
	uint64_t total = 0, h = 0xcbf29ce484222325ull;
	unsigned char *buf;
	double t0, t1;
	FILE *f;

	while ((c = getopt(argc, argv, "b:kce")) != -1) {
		switch (c) {
		case 'b': bufsz = strtoull(optarg, NULL, 0); break;
		case 'k': keep = 1; break;
		case 'c': sum = 1; break;
		case 'e': evict = keep = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 1 || bufsz == 0)
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

	buf = aligned_alloc(4096, (bufsz + 4095) & ~(size_t)4095);
	if (!buf)
		return 1;
	memset(buf, 0, bufsz);
	t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		int fd;
		uint64_t done = 0;

		if (keep && slot_fd[r[i].fd_slot] >= 0) {
			fd = slot_fd[r[i].fd_slot];
		} else {
			fd = open(r[i].path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "preadcat: %s: %s\n", r[i].path, strerror(errno));
				return 1;
			}
			if (keep)
				slot_fd[r[i].fd_slot] = fd;
		}
		while (done < r[i].len) {
			size_t want = r[i].len - done < bufsz ? (size_t)(r[i].len - done) : bufsz;
			ssize_t got = pread(fd, buf, want, (off_t)(r[i].off + done));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				fprintf(stderr, "preadcat: %s: pread at %" PRIu64 ": %s\n", r[i].path,
					r[i].off + done, got < 0 ? strerror(errno) : "unexpected end of file");
				return 1;
			}
			if (sum)
				h = fold(buf, (size_t)got, h);
			done += (uint64_t)got;
		}
		total += done;
		if (!keep)
			close(fd);
	}
	t1 = now_s();
	printf("bytes=%" PRIu64 " secs=%.6f files=%zu sum=%016" PRIx64 "\n", total, t1 - t0,
	       keep ? nslots : n, sum ? h : 0);
	return 0;
}
