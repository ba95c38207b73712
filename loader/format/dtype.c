/*
 * dtype.c - the dtype table: the safetensors dtypes (names, bit widths; docs/FORMATS.md) and
 * ggml's block-quantized types (names, block geometry), as ggml's type_traits give them.
 */
#include <errno.h>
#include <string.h>

#include "tensorfs.h"

static const struct {
	const char *name;
	unsigned bits;            /* element dtypes; 0 for block types */
	uint32_t blk_elems, blk_bytes; /* block types only */
} dtypes[TFS_DTYPE_COUNT] = {
	[TFS_DTYPE_BOOL] = { "BOOL", 8, 0, 0 },       [TFS_DTYPE_F4] = { "F4", 4, 0, 0 },
	[TFS_DTYPE_F6_E2M3] = { "F6_E2M3", 6, 0, 0 }, [TFS_DTYPE_F6_E3M2] = { "F6_E3M2", 6, 0, 0 },
	[TFS_DTYPE_U8] = { "U8", 8, 0, 0 },           [TFS_DTYPE_I8] = { "I8", 8, 0, 0 },
	[TFS_DTYPE_F8_E5M2] = { "F8_E5M2", 8, 0, 0 }, [TFS_DTYPE_F8_E4M3] = { "F8_E4M3", 8, 0, 0 },
	[TFS_DTYPE_F8_E8M0] = { "F8_E8M0", 8, 0, 0 }, [TFS_DTYPE_I16] = { "I16", 16, 0, 0 },
	[TFS_DTYPE_U16] = { "U16", 16, 0, 0 },        [TFS_DTYPE_F16] = { "F16", 16, 0, 0 },
	[TFS_DTYPE_BF16] = { "BF16", 16, 0, 0 },      [TFS_DTYPE_I32] = { "I32", 32, 0, 0 },
	[TFS_DTYPE_U32] = { "U32", 32, 0, 0 },        [TFS_DTYPE_F32] = { "F32", 32, 0, 0 },
	[TFS_DTYPE_C64] = { "C64", 64, 0, 0 },        [TFS_DTYPE_F64] = { "F64", 64, 0, 0 },
	[TFS_DTYPE_I64] = { "I64", 64, 0, 0 },        [TFS_DTYPE_U64] = { "U64", 64, 0, 0 },
	/* ggml's sizeof(block_*) and QK_* (ggml-common.h); gguf-py's GGML_QUANT_SIZES agrees except
	 * Q8_1, which ggml (the loader that matters) stores in 36 bytes and gguf-py lists as 40. */
	[TFS_DTYPE_Q4_0] = { "Q4_0", 0, 32, 18 },         [TFS_DTYPE_Q4_1] = { "Q4_1", 0, 32, 20 },
	[TFS_DTYPE_Q5_0] = { "Q5_0", 0, 32, 22 },         [TFS_DTYPE_Q5_1] = { "Q5_1", 0, 32, 24 },
	[TFS_DTYPE_Q8_0] = { "Q8_0", 0, 32, 34 },         [TFS_DTYPE_Q8_1] = { "Q8_1", 0, 32, 36 },
	[TFS_DTYPE_Q2_K] = { "Q2_K", 0, 256, 84 },        [TFS_DTYPE_Q3_K] = { "Q3_K", 0, 256, 110 },
	[TFS_DTYPE_Q4_K] = { "Q4_K", 0, 256, 144 },       [TFS_DTYPE_Q5_K] = { "Q5_K", 0, 256, 176 },
	[TFS_DTYPE_Q6_K] = { "Q6_K", 0, 256, 210 },       [TFS_DTYPE_Q8_K] = { "Q8_K", 0, 256, 292 },
	[TFS_DTYPE_IQ2_XXS] = { "IQ2_XXS", 0, 256, 66 },  [TFS_DTYPE_IQ2_XS] = { "IQ2_XS", 0, 256, 74 },
	[TFS_DTYPE_IQ3_XXS] = { "IQ3_XXS", 0, 256, 98 },  [TFS_DTYPE_IQ1_S] = { "IQ1_S", 0, 256, 50 },
	[TFS_DTYPE_IQ4_NL] = { "IQ4_NL", 0, 32, 18 },     [TFS_DTYPE_IQ3_S] = { "IQ3_S", 0, 256, 110 },
	[TFS_DTYPE_IQ2_S] = { "IQ2_S", 0, 256, 82 },      [TFS_DTYPE_IQ4_XS] = { "IQ4_XS", 0, 256, 136 },
	[TFS_DTYPE_IQ1_M] = { "IQ1_M", 0, 256, 56 },      [TFS_DTYPE_TQ1_0] = { "TQ1_0", 0, 256, 54 },
	[TFS_DTYPE_TQ2_0] = { "TQ2_0", 0, 256, 66 },      [TFS_DTYPE_MXFP4] = { "MXFP4", 0, 32, 17 },
	[TFS_DTYPE_NVFP4] = { "NVFP4", 0, 64, 36 },       [TFS_DTYPE_Q1_0] = { "Q1_0", 0, 128, 18 },
};

const char *tfs_dtype_name(enum tfs_dtype dt)
{
	return (unsigned)dt < TFS_DTYPE_COUNT ? dtypes[dt].name : "?";
}

unsigned tfs_dtype_bits(enum tfs_dtype dt)
{
	return (unsigned)dt < TFS_DTYPE_COUNT ? dtypes[dt].bits : 0;
}

int tfs_dtype_block(enum tfs_dtype dt, uint32_t *elems, uint32_t *bytes)
{
	if ((unsigned)dt >= TFS_DTYPE_COUNT || dtypes[dt].blk_elems == 0)
		return 0;
	*elems = dtypes[dt].blk_elems;
	*bytes = dtypes[dt].blk_bytes;
	return 1;
}

int tfs_dtype_parse(const char *name, enum tfs_dtype *out)
{
	for (int i = 0; i <= TFS_DTYPE_U64; i++) {
		if (strcmp(name, dtypes[i].name) == 0) {
			*out = (enum tfs_dtype)i;
			return 0;
		}
	}
	return -EINVAL;
}
