/*
 * format.h - the checkpoint-format seam: one table of functions per file format, shaped like
 * libfuse's fuse_lowlevel_ops, so a new format (GGUF) is one new file plus one line in format.c's
 * table (and one extern below).
 *
 * A format turns the header of one file into a list of tensors (name, dtype, shape, absolute byte
 * range) plus its key/value metadata. It reads through a byte source (io/source.h), never a
 * syscall, so the same parser serves local and remote files. Validation is strict: every error is
 * -EINVAL (or -errno from the source) with one line naming the file and the problem.
 */
#ifndef TFS_FORMAT_H
#define TFS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "io/source.h"
#include "tensorfs.h"

/* One tensor as a format describes it; the byte range is absolute within the file. */
struct tfs_fmt_tensor {
	char *name;
	enum tfs_dtype dtype;
	uint32_t ndim;
	uint64_t *shape;         /* numpy order (slowest dimension first) */
	uint64_t offset, length;
};

/*
 * A parsed header, owned by whoever called parse(); release with tfs_fmt_header_free().
 * Tensors are sorted by offset (the order of bytes in the file); metadata keeps file order.
 */
struct tfs_fmt_header {
	uint64_t data_start;     /* first byte of the data region */
	size_t n;
	struct tfs_fmt_tensor *t;
	size_t n_meta;
	char **meta_keys, **meta_vals;
};

struct tfs_format {
	const char *name;        /* "safetensors" */
	const char *suffix;      /* ".safetensors": claims a file whose first bytes no probe knows, so
				  * a damaged file gets this format's precise error */
	/* 1 when a file starting with head[0..n) (n = min(size, TFS_FORMAT_PROBE_BYTES)) and of
	 * `size` bytes is of this format, else 0. Never fails. */
	int (*probe)(const unsigned char *head, size_t n, uint64_t size);
	/* Reads and validates the header of `src`; on error *out is left empty. */
	int (*parse)(struct tfs_source *src, struct tfs_fmt_header *out, struct tfs_error *err);
	/* This format's own spelling of a dtype ("BF16"; GGUF's "bf16"), for listings that show
	 * the file's view; NULL for a dtype the format cannot hold. */
	const char *(*dtype_name)(enum tfs_dtype dt);
};

#define TFS_FORMAT_PROBE_BYTES 16

/*
 * The format of `src`: the first whose probe claims its first bytes, else the one whose suffix ends
 * src->path; -EINVAL naming the file when none does, -errno when the first bytes cannot be read.
 */
int tfs_format_detect(struct tfs_source *src, const struct tfs_format **out, struct tfs_error *err);

/* The format whose suffix ends `name` ("model.safetensors"), or NULL. Cannot fail. */
const struct tfs_format *tfs_format_by_suffix(const char *name);

/* Frees what the header owns and empties it; accepts an empty header. Cannot fail. */
void tfs_fmt_header_free(struct tfs_fmt_header *h);

extern const struct tfs_format tfs_format_safetensors;

#endif
