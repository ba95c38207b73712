/*
 * npy.c - synthesizes the NPY header of the `--view npy` mount (npy.h). Byte for byte what
 * numpy.lib.format writes for the same dtype and shape, so numpy.load(path, mmap_mode="r") maps
 * the tensor's bytes in place. Pure functions of the tensor: nothing is stored per file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "npy.h"

#define NPY_ALIGN 64              /* numpy's ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21      /* numpy's GROWTH_AXIS_MAX_DIGITS */

const char *tfs_npy_descr(enum tfs_dtype dt, const char **standin)
{
	uint32_t be, bb;

	*standin = NULL;
	switch (dt) {
	case TFS_DTYPE_BOOL: return "|b1";
	case TFS_DTYPE_U8: return "|u1";
	case TFS_DTYPE_I8: return "|i1";
	case TFS_DTYPE_I16: return "<i2";
	case TFS_DTYPE_U16: return "<u2";
	case TFS_DTYPE_F16: return "<f2";
	case TFS_DTYPE_I32: return "<i4";
	case TFS_DTYPE_U32: return "<u4";
	case TFS_DTYPE_F32: return "<f4";
	case TFS_DTYPE_C64: return "<c8";
	case TFS_DTYPE_F64: return "<f8";
	case TFS_DTYPE_I64: return "<i8";
	case TFS_DTYPE_U64: return "<u8";
	case TFS_DTYPE_BF16: *standin = "raw BF16 bits"; return "<u2";
	case TFS_DTYPE_F8_E5M2: *standin = "raw F8_E5M2 bytes"; return "|u1";
	case TFS_DTYPE_F8_E4M3: *standin = "raw F8_E4M3 bytes"; return "|u1";
	case TFS_DTYPE_F8_E8M0: *standin = "raw F8_E8M0 bytes"; return "|u1";
	case TFS_DTYPE_F4: *standin = "packed F4 bytes (two values a byte)"; return "|u1";
	case TFS_DTYPE_F6_E2M3: *standin = "packed F6_E2M3 bytes (four values in three bytes)"; return "|u1";
	case TFS_DTYPE_F6_E3M2: *standin = "packed F6_E3M2 bytes (four values in three bytes)"; return "|u1";
	default:
		if (tfs_dtype_block(dt, &be, &bb)) {
			*standin = "ggml blocks, one row per block";
			return "|u1";
		}
		*standin = "raw bytes";
		return "|u1";
	}
}

/* The shape numpy sees: the tensor's, except for the stand-ins that count bytes. */
static size_t npy_dims(const struct tfs_tensor *t, uint64_t *two, const uint64_t **dims)
{
	unsigned bits = tfs_dtype_bits(t->dtype);
	uint32_t be, bb;

	if (tfs_dtype_block(t->dtype, &be, &bb)) {
		two[0] = t->length / bb;
		two[1] = bb;
		*dims = two;
		return 2;
	}
	if (bits % 8) {
		/* packed sub-byte values: bytes of the last dimension, or one flat run of bytes */
		if (t->ndim > 0 && t->shape[t->ndim - 1] * bits % 8 == 0 && t->ndim <= 16) {
			*dims = NULL;
			return t->ndim;   /* caller divides the last one (see dim_at) */
		}
		two[0] = t->length;
		*dims = two;
		return 1;
	}
	*dims = t->shape;
	return t->ndim;
}

static uint64_t dim_at(const struct tfs_tensor *t, const uint64_t *dims, size_t i, size_t n)
{
	if (dims)
		return dims[i];
	return i + 1 == n ? t->shape[i] * tfs_dtype_bits(t->dtype) / 8 : t->shape[i];
}

const char *tfs_npy_shape(const struct tfs_tensor *t, char *buf, size_t cap)
{
	uint64_t two[2];
	const uint64_t *dims;
	size_t n = npy_dims(t, two, &dims), len = 0;

	len += (size_t)snprintf(buf, cap, "(");
	for (size_t i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, i ? ", %" PRIu64 : "%" PRIu64,
					dim_at(t, dims, i, n));
	if (len < cap)
		snprintf(buf + len, cap - len, n == 1 ? ",)" : ")");
	return buf;
}

/* The dict with its spare spaces (before padding), written into buf when buf is not NULL;
 * returns its length. */
static size_t npy_dict(const struct tfs_tensor *t, char *buf, size_t cap)
{
	uint64_t two[2];
	const uint64_t *dims;
	size_t n = npy_dims(t, two, &dims), len;
	const char *standin;
	char first[24];
	int k;

	k = snprintf(buf, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (",
		     tfs_npy_descr(t->dtype, &standin));
	len = (size_t)k;
	for (size_t i = 0; i < n; i++) {
		k = snprintf(buf ? buf + len : NULL, buf ? cap - len : 0, i ? ", %" PRIu64 : "%" PRIu64,
			     dim_at(t, dims, i, n));
		len += (size_t)k;
	}
	k = snprintf(buf ? buf + len : NULL, buf ? cap - len : 0, "%s), }", n == 1 ? "," : "");
	len += (size_t)k;
	/* numpy leaves room to grow the first axis in place */
	if (n > 0) {
		size_t spare = NPY_GROWTH_DIGITS -
			       (size_t)snprintf(first, sizeof(first), "%" PRIu64, dim_at(t, dims, 0, n));
		if (buf)
			memset(buf + len, ' ', spare);
		len += spare;
	}
	return len;
}

/* Total length given the dict's: prefix (magic, version, length field) + dict + '\n', padded. */
static size_t total_len(size_t dict, size_t *prefix)
{
	size_t hlen = dict + 1, pad;

	*prefix = 10;
	pad = NPY_ALIGN - ((*prefix + hlen) % NPY_ALIGN);
	if (hlen + pad > 65535) {               /* numpy falls back to format 2.0 */
		*prefix = 12;
		pad = NPY_ALIGN - ((*prefix + hlen) % NPY_ALIGN);
	}
	return *prefix + hlen + pad;
}

size_t tfs_npy_header_len(const struct tfs_tensor *t)
{
	size_t prefix;

	return total_len(npy_dict(t, NULL, 0), &prefix);
}

size_t tfs_npy_header(const struct tfs_tensor *t, char *buf, size_t cap)
{
	size_t dict = npy_dict(t, NULL, 0), prefix, total = total_len(dict, &prefix);
	uint32_t body = (uint32_t)(total - prefix);

	if (cap < total + 1)   /* +1: snprintf's NUL while writing the dict */
		return 0;
	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = prefix == 10 ? 1 : 2;
	buf[7] = 0;
	for (size_t i = 0; i < prefix - 8; i++)
		buf[8 + i] = (char)(body >> (8 * i));
	npy_dict(t, buf + prefix, cap - prefix);
	memset(buf + prefix + dict, ' ', total - prefix - dict - 1);
	buf[total - 1] = '\n';
	return total;
}
