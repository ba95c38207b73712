/* ckpt.h - builds small checkpoints on the fly for unit tests (tests only, not the library). */
#ifndef TFS_TEST_CKPT_H
#define TFS_TEST_CKPT_H

#include <stddef.h>
#include <stdint.h>

struct ck_tensor {
	const char *name;
	const char *dtype;
	uint32_t ndim;
	uint64_t shape[4];
};

/* A fresh directory under /tmp (malloc'd path); ck_rmrf removes it and frees the path. */
char *ck_tmpdir(void);
void ck_rmrf(char *dir);
/* dir + "/" + name, in a static ring of buffers (fine for tests). */
const char *ck_path(const char *dir, const char *name);

/* Writes a safetensors file whose header is exactly `json` (padded with spaces to 8 bytes) followed
 * by `len` data bytes (the pattern ck_byte(i) when data is NULL). Returns 0 or -1. */
int ck_write_raw(const char *path, const char *json, const void *data, size_t len);
/* Writes a valid safetensors file of these tensors, in order, filled with ck_byte(offset). */
int ck_write(const char *path, const struct ck_tensor *t, size_t n);
int ck_write_text(const char *path, const char *text);
/* The deterministic byte at data-region offset i. */
static inline unsigned char ck_byte(uint64_t i) { return (unsigned char)((i * 131 + 7) ^ (i >> 8)); }

#endif
