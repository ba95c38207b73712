/*
 * test_tree.c - the mount's directory tree (fs/tree.c): the escaping rules of fs/tree.h, hostile
 * tensor names (slashes, dots, control bytes, Unicode, over-long components, reserved '%' names),
 * tensors that are also prefixes (%self), checkpoint files hidden by tensors, collisions reported
 * (never silent) and the depth limit. Names that can only come from a hostile header go through a
 * real safetensors file; names the parser cannot produce (invalid UTF-8) go through an in-memory
 * catalog (catalog_int.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog_int.h"
#include "ckpt.h"
#include "tensorfs.h"
#include "tree.h"

static const char *esc(const char *s)
{
	static char out[TFS_NAME_MAX + 1];

	tfs_tree_escape(s, strlen(s), out);
	return out;
}

static void test_escape_rules(void **state)
{
	char out[TFS_NAME_MAX + 1];

	assert_string_equal(esc("weight"), "weight");
	assert_string_equal(esc(""), "%");
	assert_string_equal(esc("%"), "%25");
	assert_string_equal(esc("%self"), "%25self");
	assert_string_equal(esc("a/b"), "a%2Fb");
	assert_string_equal(esc("../../etc"), "..%2F..%2Fetc");
	assert_string_equal(esc("tab\there"), "tab%09here");
	assert_string_equal(esc("nl\n"), "nl%0A");
	assert_string_equal(esc("\x1b[31mred"), "%1B[31mred");
	assert_string_equal(esc("del\x7f"), "del%7F");
	assert_string_equal(esc("модель"), "модель");       /* UTF-8 passes through */
	assert_string_equal(esc("🙂"), "🙂");
	assert_string_equal(esc("\xff\xfe"), "\xff\xfe");      /* bytes >= 0x80 too */
	/* NUL inside a component (only reachable through the API; the parser refuses it) */
	assert_int_equal(tfs_tree_escape("a\0b", 3, out), 5);
	assert_string_equal(out, "a%00b");
}

static void test_escape_long(void **state)
{
	char a[400], b[400], ea[TFS_NAME_MAX + 1], eb[TFS_NAME_MAX + 1];
	size_t n;

	/* exactly 255 bytes: kept as is; 256: cut and hashed */
	memset(a, 'x', 255);
	a[255] = '\0';
	assert_int_equal(tfs_tree_escape(a, 255, ea), 255);
	assert_memory_equal(ea, a, 255);
	memset(a, 'x', 300);
	memcpy(b, a, 300);
	b[299] = 'y';
	n = tfs_tree_escape(a, 300, ea);
	assert_true(n <= TFS_NAME_MAX);
	assert_memory_equal(ea + n - 18, "%~", 2);
	assert_int_equal(strspn(ea + n - 16, "0123456789abcdef"), 16);
	tfs_tree_escape(b, 300, eb);
	assert_string_not_equal(ea, eb);   /* same head, different tail: still two names */
	/* 100 '%' escape to 300 bytes: the cut never splits a %XX */
	memset(a, '%', 100);
	n = tfs_tree_escape(a, 100, ea);
	assert_true(n <= TFS_NAME_MAX);
	assert_int_equal((n - 18) % 3, 0);
	for (size_t i = 0; i < n - 18; i += 3)
		assert_memory_equal(ea + i, "%25", 3);
	/* 200 two-byte characters: the cut never splits a UTF-8 sequence */
	for (int i = 0; i < 200; i++)
		memcpy(a + 2 * i, "é", 2);
	n = tfs_tree_escape(a, 400, ea);
	assert_true(n <= TFS_NAME_MAX);
	assert_int_equal((n - 18) % 2, 0);
	/* an escaped character that just fits, and one that does not */
	memset(a, 'x', 252);
	a[252] = '/';
	assert_int_equal(tfs_tree_escape(a, 253, ea), 255);
	assert_memory_equal(ea + 252, "%2F", 3);
	memset(a, 'x', 253);
	a[253] = '/';
	n = tfs_tree_escape(a, 254, ea);
	assert_memory_equal(ea + n - 18, "%~", 2);
}

/* Every node: a safe name, findable, and its path resolves back to it. */
static void check_tree(const struct tfs_catalog *cat, const struct tfs_tree *t)
{
	char path[8192];

	for (uint32_t id = 1; id < tfs_tree_count(t); id++) {
		const struct tfs_node *n = tfs_tree_node(t, id);
		size_t len = strlen(n->name);
		assert_true(len >= 1 && len <= TFS_NAME_MAX);
		assert_string_not_equal(n->name, ".");
		assert_string_not_equal(n->name, "..");
		for (size_t i = 0; i < len; i++)
			assert_true(n->name[i] != '/' && (unsigned char)n->name[i] >= 0x20 &&
				    n->name[i] != 0x7f);
		assert_int_equal(tfs_tree_lookup(t, n->parent, n->name), id);
		assert_int_equal(tfs_tree_path(t, id, path, sizeof(path)), 0);
	}
	for (size_t i = 0; i < tfs_catalog_tensor_count(cat); i++) {
		const struct tfs_node *n = tfs_tree_node(t, tfs_tree_tensor_node(t, i));
		assert_int_equal(n->kind, TFS_NODE_TENSOR);
		assert_int_equal(n->ref, i);
	}
}

/* Node id of a '/'-separated path, or -1. */
static int64_t find(const struct tfs_tree *t, const char *path)
{
	char buf[4096], *save = NULL, *c;
	int64_t id = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	for (c = strtok_r(buf, "/", &save); c && id >= 0; c = strtok_r(NULL, "/", &save))
		id = tfs_tree_lookup(t, (uint32_t)id, c);
	return id;
}

static const struct tfs_tensor *tensor_at(const struct tfs_catalog *cat, const struct tfs_tree *t,
					  const char *path)
{
	int64_t id = find(t, path);
	const struct tfs_node *n = id >= 0 ? tfs_tree_node(t, (uint32_t)id) : NULL;

	if (!n || n->kind != TFS_NODE_TENSOR) {
		print_error("no tensor at '%s'\n", path);
		fail();
	}
	return tfs_catalog_tensor(cat, n->ref);
}

/* A safetensors file whose JSON keys are given verbatim (already JSON-escaped), U8 [1] each. */
static char *write_names(const char *const *keys, size_t n)
{
	char *dir = ck_tmpdir(), *json = malloc(1 << 16);
	size_t used = 0;

	used += (size_t)sprintf(json, "{");
	for (size_t i = 0; i < n; i++)
		used += (size_t)sprintf(json + used, "%s\"%s\":{\"dtype\":\"U8\",\"shape\":[1],"
					"\"data_offsets\":[%zu,%zu]}", i ? "," : "", keys[i], i, i + 1);
	sprintf(json + used, "}");
	assert_int_equal(ck_write_raw(ck_path(dir, "model.safetensors"), json, NULL, n), 0);
	free(json);
	return dir;
}

static void test_hostile_names_from_a_header(void **state)
{
	static const char *const keys[] = {
		"a", "a.b", "x..y", "trail.", ".lead", ".", "..", "a/b", "..\\/..\\/etc\\/passwd",
		"ctl\\u0001\\u001b[0m", "tab\\tnl\\n", "%self", "a.%self", "pct%2F",
		"\\u043c\\u043e\\u0434\\u0435\\u043b\\u044c.\\u5c42.0", "\\ud83d\\ude42",
		"rtl\\u202eevil", "del\\u007f",
	};
	char *dir = write_names(keys, sizeof(keys) / sizeof(keys[0]));
	struct tfs_catalog *cat;
	struct tfs_tree *t;
	struct tfs_error err;
	const struct tfs_tensor *ts;

	assert_int_equal(tfs_catalog_open(dir, &cat, &err), 0);
	assert_int_equal(tfs_tree_build(cat, NULL, &t, &err), 0);
	check_tree(cat, t);
	ts = tensor_at(cat, t, "a/%self");
	assert_string_equal(ts->name, "a");
	ts = tensor_at(cat, t, "a/b");
	assert_string_equal(ts->name, "a.b");
	assert_string_equal(tensor_at(cat, t, "x/%/y")->name, "x..y");
	assert_string_equal(tensor_at(cat, t, "trail/%")->name, "trail.");
	assert_string_equal(tensor_at(cat, t, "%/lead")->name, ".lead");
	assert_string_equal(tensor_at(cat, t, "%/%/%self")->name, ".");
	assert_string_equal(tensor_at(cat, t, "%/%/%")->name, "..");
	assert_string_equal(tensor_at(cat, t, "a%2Fb")->name, "a/b");
	assert_string_equal(tensor_at(cat, t, "%/%/%2F/%/%2Fetc%2Fpasswd")->name, "../../etc/passwd");
	assert_string_equal(tensor_at(cat, t, "ctl%01%1B[0m")->name, "ctl\x01\x1b[0m");
	assert_string_equal(tensor_at(cat, t, "tab%09nl%0A")->name, "tab\tnl\n");
	assert_string_equal(tensor_at(cat, t, "%25self")->name, "%self");
	assert_string_equal(tensor_at(cat, t, "a/%25self")->name, "a.%self");
	assert_string_equal(tensor_at(cat, t, "pct%252F")->name, "pct%2F");
	assert_string_equal(tensor_at(cat, t, "модель/层/0")->name, "модель.层.0");
	assert_string_equal(tensor_at(cat, t, "🙂")->name, "🙂");
	assert_string_equal(tensor_at(cat, t, "rtl\xe2\x80\xae" "evil")->name, "rtl\xe2\x80\xae" "evil");
	assert_string_equal(tensor_at(cat, t, "del%7F")->name, "del\x7f");
	assert_string_equal(tfs_tree_warnings(t), "");
	tfs_tree_free(t);
	tfs_catalog_close(cat);
	ck_rmrf(dir);
}

static void test_nul_in_name_is_refused(void **state)
{
	static const char *const keys[] = { "ok", "a\\u0000b" };
	char *dir = write_names(keys, 2);
	struct tfs_catalog *cat = NULL;
	struct tfs_error err;

	assert_int_equal(tfs_catalog_open(dir, &cat, &err), -EINVAL);
	assert_null(cat);
	assert_non_null(strstr(err.msg, "model.safetensors"));
	assert_non_null(strstr(err.msg, "NUL"));
	ck_rmrf(dir);
}

static void test_long_components(void **state)
{
	char k1[700], k2[700], k3[300];
	const char *keys[] = { k1, k2, k3 };
	char *dir;
	struct tfs_catalog *cat;
	struct tfs_tree *t;
	struct tfs_error err;

	memset(k1, 'w', 600);
	k1[600] = '\0';
	memcpy(k2, k1, 601);
	k2[599] = 'v';            /* differs only past byte 255 */
	memset(k3, 'w', 255);     /* exactly the limit */
	k3[255] = '\0';
	dir = write_names(keys, 3);
	assert_int_equal(tfs_catalog_open(dir, &cat, &err), 0);
	assert_int_equal(tfs_tree_build(cat, NULL, &t, &err), 0);
	check_tree(cat, t);
	/* three distinct files in the root (plus .tensorfs and model.safetensors) */
	assert_int_equal(tfs_tree_node(t, 0)->n_children, 5);
	assert_string_equal(tensor_at(cat, t, k3)->name, k3);
	tfs_tree_free(t);
	tfs_catalog_close(cat);
	ck_rmrf(dir);
}

/* An in-memory catalog of tensor names (no parser): for what a header cannot express. */
struct fake {
	struct tfs_catalog cat;
	struct tfs_cat_file files[4];
	struct tfs_tensor t[8];
};

static void fake_init(struct fake *f, const char *const *names, const char *const *comps, size_t n,
		      const char *const *files, size_t nf)
{
	memset(f, 0, sizeof(*f));
	f->cat.root = "/nowhere";
	f->cat.layout = "safetensors";
	f->cat.files = f->files;
	f->cat.n_files = nf;
	f->cat.tensors = f->t;
	f->cat.n_tensors = n;
	for (size_t i = 0; i < nf; i++)
		f->files[i].pub.path = f->files[i].pub.rel = files[i];
	for (size_t i = 0; i < n; i++) {
		f->t[i].name = names[i];
		f->t[i].component = comps ? comps[i] : "";
		f->t[i].key = names[i];
	}
}

static void test_invalid_utf8_and_collisions(void **state)
{
	static const char *const names[] = { "\xff\xfe.\xc3", "ok" };
	static const char *const coll_names[] = { "conv.weight", "weight" };
	static const char *const coll_comps[] = { "", "conv" };  /* diffusers "conv/weight" */
	static const char *const files[] = { "model.safetensors" };
	struct fake f;
	struct tfs_tree *t;
	struct tfs_error err;

	fake_init(&f, names, NULL, 2, files, 1);
	assert_int_equal(tfs_tree_build(&f.cat, NULL, &t, &err), 0);
	check_tree(&f.cat, t);
	assert_string_equal(tensor_at(&f.cat, t, "\xff\xfe/\xc3")->name, "\xff\xfe.\xc3");
	tfs_tree_free(t);

	/* two tensors at one path: an error naming the tensor, never one hiding the other */
	fake_init(&f, coll_names, coll_comps, 2, files, 1);
	assert_int_equal(tfs_tree_build(&f.cat, NULL, &t, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "weight"));
	assert_non_null(strstr(err.msg, "taken by another tensor"));
}

/*
 * One folder of 80,000 names given in reverse order: the children come out sorted, and building
 * is O(n log n). The old insertion sort took 19.7 s here; the bound is loose on purpose (sanitized
 * and loaded machines), it only catches a return to quadratic work.
 */
static void test_big_folder_reverse_order(void **state)
{
	enum { N = 80000 };
	struct tfs_catalog cat = { .root = "/nowhere", .layout = "safetensors" };
	struct tfs_tensor *t = calloc(N, sizeof(*t));
	char (*names)[24] = malloc(N * sizeof(*names));
	struct tfs_tree *tree;
	struct tfs_error err;
	struct timespec a, b;
	const struct tfs_node *dir;
	int64_t d;

	assert_non_null(t);
	assert_non_null(names);
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "e.k%06zu", N - 1 - i);
		t[i].name = t[i].key = names[i];
		t[i].component = "";
	}
	cat.tensors = t;
	cat.n_tensors = N;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(tfs_tree_build(&cat, NULL, &tree, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < 5.0);
	d = tfs_tree_lookup(tree, 0, "e");
	assert_true(d > 0);
	dir = tfs_tree_node(tree, (uint32_t)d);
	assert_int_equal(dir->n_children, N);
	for (uint32_t i = 0; i < N; i++) {
		char want[24];
		snprintf(want, sizeof(want), "k%06u", i);
		assert_string_equal(tfs_tree_node(tree, dir->children[i])->name, want);
	}
	tfs_tree_free(tree);
	free(names);
	free(t);
}

static void test_file_hidden_by_tensor_warns(void **state)
{
	static const char *const names[] = { "README", "config.json" };
	static const char *const files[] = { "model.safetensors", "README", "config.json" };
	struct fake f;
	struct tfs_tree *t;
	struct tfs_error err;

	fake_init(&f, names, NULL, 2, files, 3);
	assert_int_equal(tfs_tree_build(&f.cat, NULL, &t, &err), 0);
	check_tree(&f.cat, t);
	/* "README" the tensor wins; the file is hidden, with a warning naming it */
	assert_string_equal(tensor_at(&f.cat, t, "README")->name, "README");
	assert_non_null(strstr(tfs_tree_warnings(t), "README: hidden"));
	/* the file config.json and the tensor config/json do not meet */
	assert_string_equal(tensor_at(&f.cat, t, "config/json")->name, "config.json");
	assert_int_equal(tfs_tree_node(t, (uint32_t)find(t, "config.json"))->kind, TFS_NODE_FILE);
	tfs_tree_free(t);
}

static void test_depth_limit(void **state)
{
	char deep[1024], ok[1024];
	const char *names[] = { ok, deep };
	static const char *const files[] = { "model.safetensors" };
	struct fake f;
	struct tfs_tree *t;
	struct tfs_error err;
	size_t n = 0;

	for (int i = 0; i < 128; i++)
		n += (size_t)sprintf(ok + n, i ? ".d" : "d");
	n = 0;
	for (int i = 0; i < 129; i++)
		n += (size_t)sprintf(deep + n, i ? ".e" : "e");
	fake_init(&f, names, NULL, 1, files, 1);
	assert_int_equal(tfs_tree_build(&f.cat, NULL, &t, &err), 0);
	check_tree(&f.cat, t);
	tfs_tree_free(t);
	fake_init(&f, names, NULL, 2, files, 1);
	assert_int_equal(tfs_tree_build(&f.cat, NULL, &t, &err), -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "more than 128 name components"));
}

static void test_path_buffer(void **state)
{
	static const char *const names[] = { "model.layers.0.weight" };
	static const char *const files[] = { "model.safetensors" };
	struct fake f;
	struct tfs_tree *t;
	struct tfs_error err;
	char buf[64];
	uint32_t id;

	fake_init(&f, names, NULL, 1, files, 1);
	assert_int_equal(tfs_tree_build(&f.cat, NULL, &t, &err), 0);
	id = tfs_tree_tensor_node(t, 0);
	assert_int_equal(tfs_tree_path(t, id, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "model/layers/0/weight");
	assert_int_equal(tfs_tree_path(t, id, buf, 21), -ENAMETOOLONG);
	assert_int_equal(tfs_tree_path(t, id, buf, 22), 0);
	assert_int_equal(tfs_tree_path(t, 0, buf, 1), 0);
	assert_string_equal(buf, "");
	assert_int_equal(tfs_tree_lookup(t, id, "x"), -1);           /* not a directory */
	assert_int_equal(tfs_tree_lookup(t, 100000, "x"), -1);       /* no such node */
	assert_null(tfs_tree_node(t, (uint32_t)tfs_tree_count(t)));
	tfs_tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_rules),
		cmocka_unit_test(test_escape_long),
		cmocka_unit_test(test_hostile_names_from_a_header),
		cmocka_unit_test(test_nul_in_name_is_refused),
		cmocka_unit_test(test_long_components),
		cmocka_unit_test(test_invalid_utf8_and_collisions),
		cmocka_unit_test(test_big_folder_reverse_order),
		cmocka_unit_test(test_file_hidden_by_tensor_warns),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_path_buffer),
	};
	return cmocka_run_group_tests_name("tree", tests, NULL, NULL);
}
