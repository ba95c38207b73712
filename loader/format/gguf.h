/* gguf.h - GGUF v2/v3 (llama.cpp, stable-diffusion.cpp, ollama): limits and helpers of gguf.c. */
#ifndef TFS_GGUF_H
#define TFS_GGUF_H

#include <stdint.h>

#include "tensorfs.h"

#define TFS_GGUF_MAGIC 0x46554747u          /* "GGUF" read as a little-endian uint32 */
#define TFS_GGUF_MAX_DIMS 4                 /* GGML_MAX_DIMS */
#define TFS_GGUF_MAX_NAME 64                /* the spec's cap on a tensor name, in bytes */
#define TFS_GGUF_MAX_DEPTH 8                /* nesting of arrays of arrays we accept */
#define TFS_GGUF_DEFAULT_ALIGNMENT 32
/* Caps that no real file comes near (a 256k-token vocabulary with scores, types and 500k merges
 * is about 1.5M values; the longest strings are chat templates of kilobytes), so that a huge
 * sparse file cannot make the parser build gigabytes of JSON. */
#define TFS_GGUF_MAX_STRING (64 << 20)
#define TFS_GGUF_MAX_VALUES (32 << 20)

/* The tfs dtype of ggml type id `type`; -EINVAL for an id ggml does not define (or removed). */
int tfs_gguf_dtype(uint32_t type, enum tfs_dtype *out);

/*
 * Bytes of a tensor of dtype `dt` and numpy-order shape[0..ndim) into *out. Block types need the
 * fastest (last) dimension to be a whole number of blocks: -EINVAL otherwise; -EOVERFLOW when the
 * size does not fit 64 bits.
 */
int tfs_gguf_nbytes(enum tfs_dtype dt, uint32_t ndim, const uint64_t *shape, uint64_t *out);

#endif
