/*
 * fuzz_index.c - libFuzzer target for sharded checkpoints (loader/catalog/hf_folders.c load_index, catalog.c).
 *
 * A folder under /dev/shm (made once, reused) holds two small valid shards; each input is written
 * as its model.safetensors.index.json and the folder opened with tfs_catalog_open. A successful
 * open must give a catalog that agrees with the shards: every tensor inside its file, in disk
 * order, findable by key. The tree is built from it too (names come from the shard headers).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

static char dir[64];

static void setup(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/dev/shm/fuzz-index-%d", (int)getpid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		abort();
	fz_write_shard(dir, "model-00001-of-00002.safetensors",
		       "{\"__metadata__\":{\"format\":\"pt\"},"
		       "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
		       "\"a.bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]}}", 20);
	fz_write_shard(dir, "model-00002-of-00002.safetensors",
		       "{\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
		       "\"b.c\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[3,11]}}", 11);
	fz_write_text(dir, "config.json", "{}");
	atexit(fz_cleanup_dir_atexit);
	fz_cleanup_dir = dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size > (1 << 20))
		return 0;
	fz_write_bytes(dir, "model.safetensors.index.json", data, size);
	fz_open_and_check(dir);
	return 0;
}
