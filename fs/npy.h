/*
 * npy.h - the `--view npy` header: each tensor file starts with a synthesized NPY header (format
 * 1.0, or 2.0 past 64 KiB, exactly as numpy.save writes it: keys sorted, spare spaces after the
 * dict, padded with spaces and '\n' to a multiple of 64 bytes), followed by the tensor's bytes.
 *
 * dtypes numpy lacks get a stand-in of raw unsigned integers (tfs_npy_descr says which, and the
 * user.tensorfs.npy xattr shows it): BF16 as <u2 (raw bits), F8_* as |u1, F4/F6 as |u1 packed
 * bytes (the last dimension counted in bytes, or one flat dimension when it is not a whole
 * number of bytes), and ggml block types as |u1 of shape (n_blocks, block_bytes).
 */
#ifndef TFS_NPY_H
#define TFS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "tensorfs.h"

/* The numpy descr of a tensor's dtype ("<f4"); *standin is NULL for numpy's own dtype, else a
 * short phrase saying what the stand-in holds ("raw BF16 bits"). */
const char *tfs_npy_descr(enum tfs_dtype dt, const char **standin);

/* Header length in bytes (a multiple of 64) of tensor t. */
size_t tfs_npy_header_len(const struct tfs_tensor *t);

/* Writes the header of t into buf (cap > tfs_npy_header_len(t): one byte more, for a NUL while it
 * writes); returns its length, or 0 when cap is too small. */
size_t tfs_npy_header(const struct tfs_tensor *t, char *buf, size_t cap);

/* The shape the header declares, as numpy prints it: "(3, 4)" into buf; returns buf. */
const char *tfs_npy_shape(const struct tfs_tensor *t, char *buf, size_t cap);

#endif
