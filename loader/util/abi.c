/*
 * abi.c - tfs_struct_size: the library describes its public structs to bindings (tensorfs.h), so a
 * ctypes mirror that drifted from the header is caught at import instead of corrupting memory.
 */
#include <string.h>

#include "tensorfs.h"

#define S(name) { #name, sizeof(struct name) }

static const struct {
	const char *name;
	size_t size;
} structs[] = {
	S(tfs_error), S(tfs_file), S(tfs_tensor), S(tfs_engine_opts), S(tfs_span), S(tfs_stats),
	S(tfs_device), S(tfs_load_opts), S(tfs_loaded), S(tfs_load_device_total),
	S(tfs_load_report),
};

size_t tfs_struct_size(const char *name)
{
	for (size_t i = 0; name && i < sizeof(structs) / sizeof(structs[0]); i++)
		if (strcmp(structs[i].name, name) == 0)
			return structs[i].size;
	return 0;
}
