/*
 * test_select.c - unit tests of loader/place/select.c: device spellings, globs, device maps, the
 * longest-prefix rule, and the messages bad maps give (they must name the file and the key).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ckpt.h"
#include "place/place.h"
#include "tensorfs.h"

static const struct tfs_device CPU = { TFS_DEVICE_CPU, 0 };

/* Places `key`; returns "cpu", "cuda:N" or "-" (not loaded) in a static buffer. */
static const char *where(const struct tfs_selection *sel, const char *key)
{
	static char buf[32];
	struct tfs_device d;

	if (!tfs_selection_place(sel, key, CPU, &d))
		return "-";
	return tfs_device_name(d, buf, sizeof(buf));
}

static struct tfs_selection *map_sel(const char *json)
{
	struct tfs_selection *sel;
	struct tfs_error err;

	assert_int_equal(tfs_selection_new(&sel, &err), 0);
	if (tfs_selection_set_map_json(sel, json, "test", &err) < 0)
		fail_msg("map rejected: %s", err.msg);
	return sel;
}

static void test_device_parse(void **state)
{
	struct tfs_device d;
	struct tfs_error err;
	char buf[32];

	assert_int_equal(tfs_device_parse("cpu", &d, &err), 0);
	assert_int_equal(d.type, TFS_DEVICE_CPU);
	assert_int_equal(tfs_device_parse("cuda", &d, &err), 0);
	assert_string_equal(tfs_device_name(d, buf, sizeof(buf)), "cuda:0");
	assert_int_equal(tfs_device_parse("cuda:3", &d, &err), 0);
	assert_int_equal(d.type, TFS_DEVICE_CUDA);
	assert_int_equal(d.index, 3);
	assert_int_equal(tfs_device_parse("7", &d, &err), 0);
	assert_string_equal(tfs_device_name(d, buf, sizeof(buf)), "cuda:7");
	assert_int_equal(tfs_device_parse("disk", &d, &err), 0);
	assert_int_equal(d.type, TFS_DEVICE_DISK);
	const char *bad[] = { "", "gpu", "mps", "cuda:", "cuda:x", "cuda:1x", "cuda: 1", "+1",
			      "cuda:-1", "-2", "cuda:99999999999", "CPU" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tfs_device_parse(bad[i], &d, &err), -EINVAL);
		assert_non_null(strstr(err.msg, bad[i]));
	}
}

static void test_globs(void **state)
{
	struct tfs_selection *sel;
	struct tfs_error err;

	assert_int_equal(tfs_selection_new(&sel, &err), 0);
	/* No glob, no map: everything, to the default device. */
	assert_string_equal(where(sel, "anything.weight"), "cpu");
	assert_string_equal(where(NULL, "anything.weight"), "cpu");
	assert_int_equal(tfs_selection_add_glob(sel, "model.layers.1.*", &err), 0);
	assert_int_equal(tfs_selection_add_glob(sel, "*.bias", &err), 0);
	assert_string_equal(where(sel, "model.layers.1.mlp.weight"), "cpu");
	assert_string_equal(where(sel, "model.layers.10.mlp.weight"), "-");
	assert_string_equal(where(sel, "model.layers.2.attn.bias"), "cpu");
	/* '*' crosses '.' and the '/' of diffusers keys (fnmatch without FNM_PATHNAME). */
	assert_string_equal(where(sel, "unet/down.0.bias"), "cpu");
	assert_string_equal(where(sel, "lm_head.weight"), "-");
	assert_int_equal(tfs_selection_add_glob(sel, "", &err), -EINVAL);
	tfs_selection_free(sel);
}

static void test_map_prefix_rules(void **state)
{
	struct tfs_selection *sel = map_sel(
		"{\"model.embed_tokens\": 0, \"model.layers.0\": 0, \"model.layers.1\": 1,"
		" \"model.layers.1.mlp\": \"cpu\", \"model.layers.2\": \"disk\","
		" \"lm_head\": \"cpu\", \"unet\": \"cuda:2\", \"unet/conv_in\": \"cuda\"}");

	assert_string_equal(where(sel, "model.embed_tokens.weight"), "cuda:0");
	assert_string_equal(where(sel, "model.layers.0.self_attn.q_proj.weight"), "cuda:0");
	assert_string_equal(where(sel, "model.layers.1.self_attn.q_proj.weight"), "cuda:1");
	/* Longest matching key wins. */
	assert_string_equal(where(sel, "model.layers.1.mlp.up_proj.weight"), "cpu");
	assert_string_equal(where(sel, "model.layers.1.mlp"), "cpu");
	/* "model.layers.1" is not a prefix of "model.layers.10...": the boundary must be '.'. */
	assert_string_equal(where(sel, "model.layers.10.mlp.up_proj.weight"), "-");
	assert_string_equal(where(sel, "model.layers.1x"), "-");
	/* Exact key match. */
	assert_string_equal(where(sel, "model.layers.1"), "cuda:1");
	assert_string_equal(where(sel, "model.layers.2.mlp.weight"), "-");      /* disk */
	assert_string_equal(where(sel, "lm_head.weight"), "cpu");
	assert_string_equal(where(sel, "model.norm.weight"), "-");              /* unmatched */
	/* '/' is a boundary too (diffusers keys). */
	assert_string_equal(where(sel, "unet/down_blocks.0.weight"), "cuda:2");
	assert_string_equal(where(sel, "unet/conv_in.weight"), "cuda:0");
	assert_string_equal(where(sel, "unet2/x"), "-");
	tfs_selection_free(sel);
}

static void test_map_catch_all_and_globs(void **state)
{
	struct tfs_selection *sel = map_sel("{\"\": \"cpu\", \"model.layers\": 1}");
	struct tfs_error err;

	assert_string_equal(where(sel, "lm_head.weight"), "cpu");
	assert_string_equal(where(sel, "model.layers.5.w"), "cuda:1");
	assert_string_equal(where(sel, "model.layersX"), "cpu");
	/* Globs filter first, then the map places. */
	assert_int_equal(tfs_selection_add_glob(sel, "model.*", &err), 0);
	assert_string_equal(where(sel, "lm_head.weight"), "-");
	assert_string_equal(where(sel, "model.layers.5.w"), "cuda:1");
	tfs_selection_free(sel);

	/* An empty map loads nothing. */
	sel = map_sel("{}");
	assert_string_equal(where(sel, "a"), "-");
	tfs_selection_free(sel);
}

/* Each bad map gives -EINVAL and a message holding every fragment listed. */
static void expect_bad_map(const char *json, const char *frag1, const char *frag2)
{
	struct tfs_selection *sel;
	struct tfs_error err;

	assert_int_equal(tfs_selection_new(&sel, &err), 0);
	assert_int_equal(tfs_selection_set_map_json(sel, "{\"keep\": 0}", "ok.json", &err), 0);
	assert_int_equal(tfs_selection_set_map_json(sel, json, "map.json", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "map.json"));
	if (!strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2)))
		fail_msg("message \"%s\" lacks \"%s\"/\"%s\"", err.msg, frag1, frag2 ? frag2 : "");
	/* On error the earlier map stays. */
	assert_string_equal(where(sel, "keep.w"), "cuda:0");
	assert_string_equal(tfs_selection_map_origin(sel), "ok.json");
	tfs_selection_free(sel);
}

static void test_bad_maps(void **state)
{
	expect_bad_map("[0, 1]", "JSON object", "array");
	expect_bad_map("\"cpu\"", "JSON object", "string");
	expect_bad_map("{\"a\": 0,", "line 1", NULL);
	expect_bad_map("not json", "line", NULL);
	expect_bad_map("{\"model.layers.1\": -1}", "\"model.layers.1\"", "negative GPU index -1");
	expect_bad_map("{\"x\": \"mps\"}", "\"x\"", "unknown device \"mps\"");
	expect_bad_map("{\"x\": \"cuda:-2\"}", "\"x\"", "cuda:-2");
	expect_bad_map("{\"x\": 1.5}", "\"x\"", "real number");
	expect_bad_map("{\"x\": true}", "\"x\"", "true");
	expect_bad_map("{\"x\": null}", "\"x\"", "null");
	expect_bad_map("{\"x\": [0]}", "\"x\"", "array");
	expect_bad_map("{\"y\": 0, \"x\": {\"a\": 0}}", "\"x\"", "object");
	expect_bad_map("{\"x\": 99999999999}", "\"x\"", "too large");
	expect_bad_map("{\"x\": 0, \"x\": 1}", "duplicate", NULL);
}

static void test_map_file(void **state)
{
	char *dir = ck_tmpdir();
	struct tfs_selection *sel;
	struct tfs_error err;
	const char *good = ck_path(dir, "good.json");

	assert_int_equal(ck_write_text(good, "{\"model.layers.0\": 0, \"lm_head\": \"cpu\"}\n"), 0);
	assert_int_equal(tfs_selection_new(&sel, &err), 0);
	assert_int_equal(tfs_selection_load_map(sel, good, &err), 0);
	assert_string_equal(where(sel, "model.layers.0.w"), "cuda:0");
	assert_int_equal(tfs_selection_map_count(sel), 2);
	assert_string_equal(tfs_selection_map_origin(sel), good);

	const char *bad = ck_path(dir, "bad.json");
	assert_int_equal(ck_write_text(bad, "{\n  \"lm_head\": \"tpu\"\n}\n"), 0);
	assert_int_equal(tfs_selection_load_map(sel, bad, &err), -EINVAL);
	assert_non_null(strstr(err.msg, bad));
	assert_non_null(strstr(err.msg, "\"lm_head\""));
	assert_non_null(strstr(err.msg, "tpu"));

	const char *missing = ck_path(dir, "missing.json");
	assert_int_equal(tfs_selection_load_map(sel, missing, &err), -ENOENT);
	assert_non_null(strstr(err.msg, missing));
	tfs_selection_free(sel);
	ck_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_parse),
		cmocka_unit_test(test_globs),
		cmocka_unit_test(test_map_prefix_rules),
		cmocka_unit_test(test_map_catch_all_and_globs),
		cmocka_unit_test(test_bad_maps),
		cmocka_unit_test(test_map_file),
	};
	return cmocka_run_group_tests_name("select", tests, NULL, NULL);
}
