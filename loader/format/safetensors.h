/*
 * safetensors.h - the safetensors format's own parser (docs/FORMATS.md), under
 * tfs_format_safetensors (format.h). The catalog goes through the format table; this header is
 * for tests and fuzz targets that drive the JSON parser directly.
 */
#ifndef TFS_SAFETENSORS_H
#define TFS_SAFETENSORS_H

#include <stdint.h>

#include "io/source.h"
#include "tensorfs.h"

/* The reference implementation's cap on the JSON header length. */
#define TFS_ST_MAX_HEADER 100000000ULL

/* One tensor entry; begin/end are relative to the data region. */
struct tfs_st_tensor {
	char *name;
	enum tfs_dtype dtype;
	uint32_t ndim;
	uint64_t *shape;
	uint64_t begin, end;
};

/*
 * A parsed header. Tensors are sorted by begin offset (the order of bytes on disk); the metadata map
 * keeps header order. Owned by whoever called tfs_st_parse/tfs_st_read; release with tfs_st_free().
 * (The format seam hands the same header on as a struct tfs_fmt_header with absolute offsets.)
 */
struct tfs_st_header {
	uint64_t data_start;  /* 8 (the length field) + JSON length */
	size_t n;
	struct tfs_st_tensor *t;
	size_t n_meta;
	char **meta_keys, **meta_vals;
};

/*
 * Parses the JSON of a header (`len` bytes) that describes a data region of `data_len` bytes.
 * `fname` only names the file in error messages. On error *out is left empty.
 */
int tfs_st_parse(const char *fname, const char *json, size_t len, uint64_t data_len,
		 struct tfs_st_header *out, struct tfs_error *err);

/* Reads and parses the header of `src` (messages name src->path). */
int tfs_st_read(struct tfs_source *src, struct tfs_st_header *out, struct tfs_error *err);

/* Frees what the header owns and empties it; accepts an empty header. Cannot fail. */
void tfs_st_free(struct tfs_st_header *h);

/* Bytes of a tensor of this dtype and shape into *out; -EOVERFLOW, or -EINVAL for a partial byte. */
int tfs_st_nbytes(enum tfs_dtype dt, uint32_t ndim, const uint64_t *shape, uint64_t *out);

#endif
