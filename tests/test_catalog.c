/* test_catalog.c - every layout the catalog opens, and every way an index can disagree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "tensorfs.h"

static const struct ck_tensor shard1[] = {
	{ "model.embed.weight", "F16", 2, { 4, 8 } },
	{ "model.layers.0.w", "BF16", 1, { 16 } },
};
static const struct ck_tensor shard2[] = {
	{ "model.layers.1.w", "F32", 2, { 3, 3 } },
	{ "lm_head.weight", "I8", 1, { 10 } },
};

static const char *index_json =
	"{\"metadata\":{\"total_size\":%d},\"weight_map\":{"
	"\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
	"\"model.layers.0.w\":\"model-00001-of-00002.safetensors\","
	"\"model.layers.1.w\":\"model-00002-of-00002.safetensors\","
	"\"lm_head.weight\":\"model-00002-of-00002.safetensors\"}}";

static char *make_sharded(int total_size)
{
	char *dir = ck_tmpdir();
	char idx[1024];

	assert_int_equal(ck_write(ck_path(dir, "model-00001-of-00002.safetensors"), shard1, 2), 0);
	assert_int_equal(ck_write(ck_path(dir, "model-00002-of-00002.safetensors"), shard2, 2), 0);
	snprintf(idx, sizeof(idx), index_json, total_size);
	assert_int_equal(ck_write_text(ck_path(dir, "model.safetensors.index.json"), idx), 0);
	assert_int_equal(ck_write_text(ck_path(dir, "config.json"), "{}\n"), 0);
	return dir;
}

static void expect_error(const char *path, int code, const char *needle)
{
	struct tfs_catalog *cat = NULL;
	struct tfs_error e = { "" };
	int rc = tfs_catalog_open(path, &cat, &e);

	if (rc != code || !strstr(e.msg, needle))
		fail_msg("open %s: rc %d '%s', wanted %d '%s'", path, rc, e.msg, code, needle);
	assert_null(cat);
}

static void test_single_file_and_folder(void **state)
{
	char *dir = ck_tmpdir();
	struct tfs_catalog *cat;
	struct tfs_error e;

	assert_int_equal(ck_write(ck_path(dir, "model.safetensors"), shard1, 2), 0);
	assert_int_equal(ck_write_text(ck_path(dir, "config.json"), "{}\n"), 0);
	assert_int_equal(chmod(ck_path(dir, "config.json"), 0600), 0);
	/* The file itself: only it is listed. */
	assert_int_equal(tfs_catalog_open(ck_path(dir, "model.safetensors"), &cat, &e), 0);
	assert_string_equal(tfs_catalog_layout(cat), "safetensors");
	assert_int_equal(tfs_catalog_tensor_count(cat), 2);
	assert_int_equal(tfs_catalog_file_count(cat), 1);
	tfs_catalog_close(cat);
	/* The folder: the shard first, then the other files. */
	assert_int_equal(tfs_catalog_open(dir, &cat, &e), 0);
	assert_string_equal(tfs_catalog_layout(cat), "safetensors");
	assert_int_equal(tfs_catalog_file_count(cat), 2);
	assert_string_equal(tfs_catalog_file(cat, 0)->rel, "model.safetensors");
	assert_true(tfs_catalog_file(cat, 0)->is_shard);
	assert_string_equal(tfs_catalog_file(cat, 1)->rel, "config.json");
	assert_false(tfs_catalog_file(cat, 1)->is_shard);
	assert_int_equal(tfs_catalog_file(cat, 1)->mode, 0600); /* the mount shows mode & 0444 */
	const struct tfs_tensor *t = tfs_catalog_find(cat, "model.layers.0.w");
	assert_non_null(t);
	assert_int_equal(t->dtype, TFS_DTYPE_BF16);
	assert_int_equal(t->length, 32);
	assert_int_equal(t->offset, tfs_catalog_file(cat, 0)->data_start + 64);
	assert_null(tfs_catalog_find(cat, "model.layers.0"));
	tfs_catalog_close(cat);
	ck_rmrf(dir);
}

static void test_sharded(void **state)
{
	char *dir = make_sharded(64 + 32 + 36 + 10);
	struct tfs_catalog *cat;
	struct tfs_error e;

	assert_int_equal(tfs_catalog_open(dir, &cat, &e), 0);
	assert_string_equal(tfs_catalog_layout(cat), "sharded");
	assert_int_equal(tfs_catalog_tensor_count(cat), 4);
	assert_int_equal(tfs_catalog_tensor_bytes(cat), 142);
	assert_string_equal(tfs_catalog_warnings(cat), "");
	/* Disk order: shard 1 then shard 2, by offset. */
	assert_string_equal(tfs_catalog_tensor(cat, 0)->name, "model.embed.weight");
	assert_string_equal(tfs_catalog_tensor(cat, 3)->name, "lm_head.weight");
	assert_int_equal(tfs_catalog_tensor(cat, 3)->file, 1);
	assert_string_equal(tfs_catalog_file(cat, 1)->rel, "model-00002-of-00002.safetensors");
	assert_int_equal(tfs_catalog_file_count(cat), 4); /* 2 shards, config, index */
	for (size_t i = 0; i < 4; i++)
		assert_ptr_equal(tfs_catalog_find(cat, tfs_catalog_tensor(cat, i)->key),
				 tfs_catalog_tensor(cat, i));
	tfs_catalog_close(cat);
	ck_rmrf(dir);
}

static void test_total_size_mismatch_warns(void **state)
{
	char *dir = make_sharded(999);
	struct tfs_catalog *cat;
	struct tfs_error e;

	assert_int_equal(tfs_catalog_open(dir, &cat, &e), 0);
	assert_non_null(strstr(tfs_catalog_warnings(cat), "total_size is 999"));
	tfs_catalog_close(cat);
	ck_rmrf(dir);
}

static void test_index_disagreements(void **state)
{
	char *dir = make_sharded(142);
	const char *idx = ck_path(dir, "model.safetensors.index.json");

	/* A mapped tensor missing from its shard. */
	ck_write_text(idx, "{\"weight_map\":{\"nope\":\"model-00001-of-00002.safetensors\"}}");
	expect_error(dir, -EINVAL, "tensor 'nope' is mapped to model-00001-of-00002.safetensors");
	/* A tensor the index maps to the other shard. */
	ck_write_text(idx, "{\"weight_map\":{"
		      "\"model.embed.weight\":\"model-00002-of-00002.safetensors\","
		      "\"model.layers.0.w\":\"model-00001-of-00002.safetensors\"}}");
	expect_error(dir, -EINVAL, "'model.embed.weight' is mapped to model-00002-of-00002");
	/* A shard holding a tensor the index does not map. */
	ck_write_text(idx, "{\"weight_map\":{\"model.embed.weight\":\"model-00001-of-00002.safetensors\"}}");
	expect_error(dir, -EINVAL, "tensor 'model.layers.0.w' is in shard model-00001-of-00002.safetensors");
	/* A missing shard file. */
	ck_write_text(idx, "{\"weight_map\":{\"x\":\"model-00009-of-00009.safetensors\"}}");
	expect_error(dir, -ENOENT, "model-00009-of-00009.safetensors");
	/* Shard names that leave the folder. */
	ck_write_text(idx, "{\"weight_map\":{\"x\":\"../evil.safetensors\"}}");
	expect_error(dir, -EINVAL, "not a shard file name inside the folder");
	ck_write_text(idx, "{\"weight_map\":{\"x\":\"/etc/passwd\"}}");
	expect_error(dir, -EINVAL, "not a shard file name inside the folder");
	/* Not JSON, no weight_map. */
	ck_write_text(idx, "{\"weight_map\":");
	expect_error(dir, -EINVAL, "model.safetensors.index.json: not valid JSON");
	ck_write_text(idx, "{\"metadata\":{}}");
	expect_error(dir, -EINVAL, "no \"weight_map\"");
	ck_rmrf(dir);
}

static void test_tensor_in_two_shards(void **state)
{
	char *dir = ck_tmpdir();
	const struct ck_tensor a[] = { { "dup", "U8", 1, { 4 } } };
	const struct ck_tensor b[] = { { "dup", "U8", 1, { 4 } }, { "other", "U8", 1, { 2 } } };

	ck_write(ck_path(dir, "m-1.safetensors"), a, 1);
	ck_write(ck_path(dir, "m-2.safetensors"), b, 2);
	ck_write_text(ck_path(dir, "model.safetensors.index.json"),
		      "{\"weight_map\":{\"dup\":\"m-1.safetensors\",\"other\":\"m-2.safetensors\"}}");
	expect_error(dir, -EINVAL, "tensor 'dup' is in shard m-2.safetensors but the index maps it to "
		     "m-1.safetensors");
	ck_rmrf(dir);
}

static void test_folder_errors(void **state)
{
	char *dir = ck_tmpdir();

	expect_error(dir, -ENOENT, "no .safetensors checkpoint");
	expect_error(ck_path(dir, "missing"), -ENOENT, "missing");
	ck_write(ck_path(dir, "a.safetensors"), shard1, 2);
	ck_write(ck_path(dir, "b.safetensors"), shard2, 2);
	expect_error(dir, -EINVAL, "which is the checkpoint");
	ck_write_raw(ck_path(dir, "model.safetensors"), "{\"t\":", NULL, 0);
	expect_error(dir, -EINVAL, "model.safetensors: header is not valid JSON");
	ck_rmrf(dir);
}

static void test_diffusers(void **state)
{
	char *dir = ck_tmpdir();
	struct tfs_catalog *cat;
	struct tfs_error e;
	char sub[4096];

	ck_write_text(ck_path(dir, "model_index.json"),
		      "{\"_class_name\":\"StableDiffusionPipeline\",\"_diffusers_version\":\"0.30.0\","
		      "\"unet\":[\"diffusers\",\"UNet2DConditionModel\"],"
		      "\"vae\":[\"diffusers\",\"AutoencoderKL\"],"
		      "\"text_encoder\":[\"transformers\",\"CLIPTextModel\"],"
		      "\"scheduler\":[\"diffusers\",\"PNDMScheduler\"],"
		      "\"safety_checker\":[null,null]}");
	const char *subs[] = { "unet", "vae", "text_encoder", "scheduler" };
	for (int i = 0; i < 4; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, subs[i]);
		mkdir(sub, 0755);
	}
	/* unet sharded, vae single, text_encoder transformers-style, scheduler config only. */
	ck_write(ck_path(dir, "unet/diffusion_pytorch_model-00001-of-00002.safetensors"), shard1, 2);
	ck_write(ck_path(dir, "unet/diffusion_pytorch_model-00002-of-00002.safetensors"), shard2, 2);
	ck_write_text(ck_path(dir, "unet/diffusion_pytorch_model.safetensors.index.json"),
		      "{\"weight_map\":{"
		      "\"model.embed.weight\":\"diffusion_pytorch_model-00001-of-00002.safetensors\","
		      "\"model.layers.0.w\":\"diffusion_pytorch_model-00001-of-00002.safetensors\","
		      "\"model.layers.1.w\":\"diffusion_pytorch_model-00002-of-00002.safetensors\","
		      "\"lm_head.weight\":\"diffusion_pytorch_model-00002-of-00002.safetensors\"}}");
	ck_write_text(ck_path(dir, "unet/config.json"), "{}\n");
	ck_write(ck_path(dir, "vae/diffusion_pytorch_model.safetensors"), shard2, 2);
	ck_write(ck_path(dir, "text_encoder/model.safetensors"), shard1, 2);
	ck_write_text(ck_path(dir, "scheduler/scheduler_config.json"), "{}\n");

	assert_int_equal(tfs_catalog_open(dir, &cat, &e), 0);
	assert_string_equal(tfs_catalog_layout(cat), "diffusers");
	assert_int_equal(tfs_catalog_tensor_count(cat), 8);
	const struct tfs_tensor *t = tfs_catalog_find(cat, "unet/lm_head.weight");
	assert_non_null(t);
	assert_string_equal(t->component, "unet");
	assert_string_equal(t->name, "lm_head.weight");
	assert_string_equal(tfs_catalog_file(cat, t->file)->rel,
			    "unet/diffusion_pytorch_model-00002-of-00002.safetensors");
	assert_non_null(tfs_catalog_find(cat, "vae/lm_head.weight"));
	assert_non_null(tfs_catalog_find(cat, "text_encoder/model.embed.weight"));
	assert_null(tfs_catalog_find(cat, "lm_head.weight"));
	/* Every file is listed, configs included. */
	int seen = 0;
	for (size_t i = 0; i < tfs_catalog_file_count(cat); i++)
		seen += strcmp(tfs_catalog_file(cat, i)->rel, "scheduler/scheduler_config.json") == 0 ||
			strcmp(tfs_catalog_file(cat, i)->rel, "model_index.json") == 0;
	assert_int_equal(seen, 2);
	tfs_catalog_close(cat);

	/* A bad component shard is an error naming it. */
	ck_write_raw(ck_path(dir, "vae/diffusion_pytorch_model.safetensors"),
		     "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", NULL, 3);
	expect_error(dir, -EINVAL, "vae/diffusion_pytorch_model.safetensors: tensors end");
	ck_write_text(ck_path(dir, "model_index.json"), "{\"unet\":[\"diffusers\"");
	expect_error(dir, -EINVAL, "model_index.json: not valid JSON");
	ck_write_text(ck_path(dir, "model_index.json"), "{\"../x\":[\"diffusers\",\"X\"]}");
	expect_error(dir, -EINVAL, "not a plain folder name");
	ck_rmrf(dir);
}

static void test_open_reads_headers_only(void **state)
{
	/* A shard whose data region is unreadable garbage still opens: only headers are read.
	 * (Here: the data bytes are never checked, so any content opens.) */
	char *dir = ck_tmpdir();
	const struct ck_tensor big[] = { { "w", "U8", 1, { 1 << 20 } } };
	struct tfs_catalog *cat;
	struct tfs_error e;

	ck_write(ck_path(dir, "model.safetensors"), big, 1);
	assert_int_equal(tfs_catalog_open(dir, &cat, &e), 0);
	assert_int_equal(tfs_catalog_tensor(cat, 0)->length, 1 << 20);
	tfs_catalog_close(cat);
	ck_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_file_and_folder),
		cmocka_unit_test(test_sharded),
		cmocka_unit_test(test_total_size_mismatch_warns),
		cmocka_unit_test(test_index_disagreements),
		cmocka_unit_test(test_tensor_in_two_shards),
		cmocka_unit_test(test_folder_errors),
		cmocka_unit_test(test_diffusers),
		cmocka_unit_test(test_open_reads_headers_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
