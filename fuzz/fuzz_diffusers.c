/*
 * fuzz_diffusers.c - libFuzzer target for diffusers folders (loader/catalog/hf_folders.c load_diffusers).
 *
 * A folder under /dev/shm (made once) holds components: unet/ (sharded, two shards and an index),
 * vae/ (diffusion_pytorch_model.safetensors), text_encoder/ (model.safetensors), scheduler/ (a
 * config only) and a plain file "notadir". The input up to its first NUL byte becomes
 * model_index.json; what follows a NUL, when present, replaces unet's index. A successful open
 * must give a consistent catalog and tree (fuzz_common.h).
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
static const char unet_index[] =
	"{\"metadata\":{\"total_size\":31},\"weight_map\":{"
	"\"conv.weight\":\"diffusion_pytorch_model-00001-of-00002.safetensors\","
	"\"conv.bias\":\"diffusion_pytorch_model-00001-of-00002.safetensors\","
	"\"up.0\":\"diffusion_pytorch_model-00002-of-00002.safetensors\","
	"\"up.0.x\":\"diffusion_pytorch_model-00002-of-00002.safetensors\"}}";

static void setup(void)
{
	char sub[128];

	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/dev/shm/fuzz-diffusers-%d", (int)getpid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		abort();
	fz_cleanup_dir = dir;
	atexit(fz_cleanup_dir_atexit);
	for (const char *c = "unet\0vae\0text_encoder\0scheduler\0"; *c; c += strlen(c) + 1) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, c);
		if (mkdir(sub, 0700) < 0 && errno != EEXIST)
			abort();
	}
	fz_write_shard(dir, "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
		       "{\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
		       "\"conv.bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]}}", 20);
	fz_write_shard(dir, "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
		       "{\"up.0\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
		       "\"up.0.x\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[3,11]}}", 11);
	fz_write_shard(dir, "vae/diffusion_pytorch_model.safetensors",
		       "{\"decoder.w\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8);
	fz_write_shard(dir, "text_encoder/model.safetensors",
		       "{\"__metadata__\":{\"format\":\"pt\"},"
		       "\"emb\":{\"dtype\":\"F4\",\"shape\":[2,3],\"data_offsets\":[0,3]}}", 3);
	fz_write_text(dir, "scheduler/scheduler_config.json", "{}");
	fz_write_text(dir, "notadir", "x");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;

	setup();
	if (size > (1 << 20))
		return 0;
	nul = memchr(data, '\0', size);
	if (nul) {
		fz_write_bytes(dir, "model_index.json", data, (size_t)(nul - data));
		fz_write_bytes(dir, "unet/diffusion_pytorch_model.safetensors.index.json", nul + 1,
			       size - (size_t)(nul - data) - 1);
	} else {
		fz_write_bytes(dir, "model_index.json", data, size);
		fz_write_text(dir, "unet/diffusion_pytorch_model.safetensors.index.json", unet_index);
	}
	fz_open_and_check(dir);
	return 0;
}
