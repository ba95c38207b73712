/* ckpt.c - test fixture writer (see ckpt.h). */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "tensorfs.h"

char *ck_tmpdir(void)
{
	char *d = strdup("/tmp/tfs-test-XXXXXX");

	if (!d || !mkdtemp(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

void ck_rmrf(char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

const char *ck_path(const char *dir, const char *name)
{
	static char ring[8][4096];
	static int next;
	char *p = ring[next++ % 8];

	snprintf(p, 4096, "%s/%s", dir, name);
	return p;
}

int ck_write_raw(const char *path, const char *json, const void *data, size_t len)
{
	size_t jl = strlen(json), pad = (8 - jl % 8) % 8;
	uint64_t n = jl + pad;
	unsigned char le[8];
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(n >> (8 * i));
	fwrite(le, 1, 8, f);
	fwrite(json, 1, jl, f);
	for (size_t i = 0; i < pad; i++)
		fputc(' ', f);
	for (size_t i = 0; i < len; i++)
		fputc(data ? ((const unsigned char *)data)[i] : ck_byte(i), f);
	return fclose(f) == 0 ? 0 : -1;
}

int ck_write(const char *path, const struct ck_tensor *t, size_t n)
{
	size_t cap = 256 + n * 512, used = 0;
	char *json = malloc(cap);
	uint64_t off = 0;
	int rc;

	if (!json)
		return -1;
	used += (size_t)snprintf(json + used, cap - used, "{\"__metadata__\":{\"format\":\"pt\"}");
	for (size_t i = 0; i < n; i++) {
		enum tfs_dtype dt;
		uint64_t elems = 1, bytes;
		tfs_dtype_parse(t[i].dtype, &dt);
		for (uint32_t d = 0; d < t[i].ndim; d++)
			elems *= t[i].shape[d];
		bytes = elems * tfs_dtype_bits(dt) / 8;
		used += (size_t)snprintf(json + used, cap - used, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
					 t[i].name, t[i].dtype);
		for (uint32_t d = 0; d < t[i].ndim; d++)
			used += (size_t)snprintf(json + used, cap - used, d ? ",%" PRIu64 : "%" PRIu64,
						 t[i].shape[d]);
		used += (size_t)snprintf(json + used, cap - used, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
					 off, off + bytes);
		off += bytes;
	}
	snprintf(json + used, cap - used, "}");
	rc = ck_write_raw(path, json, NULL, off);
	free(json);
	return rc;
}

int ck_write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}
