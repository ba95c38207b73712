/*
 * baseline.cu - the yardstick for `tensorfs load --device cuda:N`: the plainest way to put a
 * checkpoint's tensor bytes on a GPU. For each *.safetensors file given: pread the data region
 * (everything after the 8-byte length and the JSON header) in 8 MiB pieces into one pinned buffer
 * and cudaMemcpy (synchronous) each piece into one device allocation. Single thread, no overlap.
 * Prints one line: "baseline: BYTES bytes in S s: X GB/s". tests/gpu/run.sh compares with it.
 *
 * usage: baseline [--device N] FILE.safetensors...
 */
#include <cuda_runtime.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PIECE (8u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int check(cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	fprintf(stderr, "baseline: %s: %s\n", what, cudaGetErrorString(e));
	return -1;
}

/* Data region [start, size) of a safetensors file; -1 on error. */
static int data_region(int fd, const char *path, uint64_t *start, uint64_t *size)
{
	unsigned char le[8];
	struct stat st;
	uint64_t n = 0;

	if (pread(fd, le, 8, 0) != 8 || fstat(fd, &st) < 0) {
		fprintf(stderr, "baseline: %s: cannot read the header length\n", path);
		return -1;
	}
	for (int i = 7; i >= 0; i--)
		n = n << 8 | le[i];
	*start = 8 + n;
	*size = (uint64_t)st.st_size;
	if (*start > *size) {
		fprintf(stderr, "baseline: %s: not a safetensors file\n", path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int dev = 0, first = 1;
	uint64_t total = 0, done = 0;
	char *dmem = NULL;
	void *host = NULL;
	double t0, t1;

	if (argc > 2 && strcmp(argv[1], "--device") == 0) {
		dev = atoi(argv[2]);
		first = 3;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: baseline [--device N] FILE.safetensors...\n");
		return 2;
	}
	for (int i = first; i < argc; i++) {
		uint64_t start, size;
		int fd = open(argv[i], O_RDONLY);

		if (fd < 0 || data_region(fd, argv[i], &start, &size) < 0) {
			perror(argv[i]);
			return 1;
		}
		total += size - start;
		close(fd);
	}
	/* Context creation and allocations are setup, as in tensorfs' report; not timed. */
	if (check(cudaSetDevice(dev), "cudaSetDevice") || check(cudaFree(0), "context") ||
	    check(cudaMalloc((void **)&dmem, total ? total : 1), "cudaMalloc") ||
	    check(cudaHostAlloc(&host, PIECE, cudaHostAllocDefault), "cudaHostAlloc"))
		return 1;
	t0 = now();
	for (int i = first; i < argc; i++) {
		uint64_t start, size;
		int fd = open(argv[i], O_RDONLY);

		if (fd < 0 || data_region(fd, argv[i], &start, &size) < 0)
			return 1;
		for (uint64_t off = start; off < size;) {
			size_t want = size - off < PIECE ? (size_t)(size - off) : PIECE;
			ssize_t n = pread(fd, host, want, (off_t)off);

			if (n <= 0) {
				fprintf(stderr, "baseline: %s: read failed at %llu\n", argv[i],
					(unsigned long long)off);
				return 1;
			}
			if (check(cudaMemcpy(dmem + done, host, (size_t)n, cudaMemcpyHostToDevice),
				  "cudaMemcpy"))
				return 1;
			off += (uint64_t)n;
			done += (uint64_t)n;
		}
		close(fd);
	}
	t1 = now();
	printf("baseline: %llu bytes in %.3f s: %.2f GB/s\n", (unsigned long long)done, t1 - t0,
	       (double)done / (t1 - t0) / 1e9);
	cudaFreeHost(host);
	cudaFree(dmem);
	return 0;
}
