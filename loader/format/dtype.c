/* dtype.c - the safetensors dtype table: names and bit widths (docs/FORMATS.md). */
#include <errno.h>
#include <string.h>

#include "tensorfs.h"

static const struct {
	const char *name;
	unsigned bits;
} dtypes[TFS_DTYPE_COUNT] = {
	[TFS_DTYPE_BOOL] = { "BOOL", 8 },       [TFS_DTYPE_F4] = { "F4", 4 },
	[TFS_DTYPE_F6_E2M3] = { "F6_E2M3", 6 }, [TFS_DTYPE_F6_E3M2] = { "F6_E3M2", 6 },
	[TFS_DTYPE_U8] = { "U8", 8 },           [TFS_DTYPE_I8] = { "I8", 8 },
	[TFS_DTYPE_F8_E5M2] = { "F8_E5M2", 8 }, [TFS_DTYPE_F8_E4M3] = { "F8_E4M3", 8 },
	[TFS_DTYPE_F8_E8M0] = { "F8_E8M0", 8 }, [TFS_DTYPE_I16] = { "I16", 16 },
	[TFS_DTYPE_U16] = { "U16", 16 },        [TFS_DTYPE_F16] = { "F16", 16 },
	[TFS_DTYPE_BF16] = { "BF16", 16 },      [TFS_DTYPE_I32] = { "I32", 32 },
	[TFS_DTYPE_U32] = { "U32", 32 },        [TFS_DTYPE_F32] = { "F32", 32 },
	[TFS_DTYPE_C64] = { "C64", 64 },        [TFS_DTYPE_F64] = { "F64", 64 },
	[TFS_DTYPE_I64] = { "I64", 64 },        [TFS_DTYPE_U64] = { "U64", 64 },
};

const char *tfs_dtype_name(enum tfs_dtype dt)
{
	return (unsigned)dt < TFS_DTYPE_COUNT ? dtypes[dt].name : "?";
}

unsigned tfs_dtype_bits(enum tfs_dtype dt)
{
	return (unsigned)dt < TFS_DTYPE_COUNT ? dtypes[dt].bits : 0;
}

int tfs_dtype_parse(const char *name, enum tfs_dtype *out)
{
	for (int i = 0; i < TFS_DTYPE_COUNT; i++) {
		if (strcmp(name, dtypes[i].name) == 0) {
			*out = (enum tfs_dtype)i;
			return 0;
		}
	}
	return -EINVAL;
}
