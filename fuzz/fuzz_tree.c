/*
 * fuzz_tree.c - libFuzzer target for the mount's directory tree (fs/tree.c).
 *
 * The input is a list of entries separated by '\n' or NUL: a tensor name (any bytes; "COMP\tNAME"
 * puts it in a diffusers component), or "\x01REL/PATH" for a checkpoint file. A catalog is built
 * in memory from them (as tfs_catalog_open would give it, bypassing JSON so names may hold any byte
 * sequence, invalid UTF-8 included) and tfs_tree_build runs on it. Oracles:
 *  - tfs_tree_escape: output is a safe name (no '/', control byte, "." or ".."; 1..255 bytes) and
 *    decodes back to the input when it is not the hashed long form;
 *  - the build fails with -EEXIST exactly when two tensors map to one path (never a silent
 *    collision), with -ENAMETOOLONG only for names deeper than the tree allows;
 *  - a built tree keeps every promise of tree.h (fuzz_common.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "fuzz_common.h"

#define MAX_ENTRIES 256
#define MAX_DEPTH 128   /* tree.c's */

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int special(unsigned char c)
{
	return c == '%' || c == '/' || c < 0x20 || c == 0x7f;
}

/* Escapes one component and checks the result against tree.h's rules. */
static void escape_checked(const char *c, size_t len, char *out)
{
	size_t n = tfs_tree_escape(c, len, out), plain = 0, m = 0;
	char dec[TFS_NAME_MAX + 1];

	FZ_CHECK(n == strlen(out));
	fz_check_name(out, 0);
	if (len == 0) {
		FZ_CHECK(strcmp(out, "%") == 0);
		return;
	}
	for (size_t i = 0; i < len; i++)
		plain += special((unsigned char)c[i]) ? 3 : 1;
	if (plain > TFS_NAME_MAX) {
		/* long form: a head of the escaped text cut on a boundary, "%~", 16 hex digits */
		FZ_CHECK(n >= 18 && out[n - 18] == '%' && out[n - 17] == '~' &&
			 strspn(out + n - 16, "0123456789abcdef") == 16);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (out[i] == '%') {
			FZ_CHECK(i + 2 < n && unhex(out[i + 1]) >= 0 && unhex(out[i + 2]) >= 0);
			dec[m++] = (char)(unhex(out[i + 1]) << 4 | unhex(out[i + 2]));
			i += 2;
		} else {
			FZ_CHECK(!special((unsigned char)out[i]));
			dec[m++] = out[i];
		}
	}
	FZ_CHECK(m == len && memcmp(dec, c, len) == 0);
}

struct entry {
	char *comp;      /* diffusers component or "" */
	char *name;
	char *key;
	char *seq;       /* escaped path, components joined by '/' */
	size_t depth;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct entry *ents = calloc(MAX_ENTRIES, sizeof(*ents));
	char **files = calloc(MAX_ENTRIES, sizeof(char *));
	size_t ne = 0, nf = 0, pos = 0;
	struct tfs_catalog cat = { 0 };
	struct tfs_tree *tree = NULL;
	struct tfs_error err;
	int too_deep = 0, dup = 0, rc;
	char esc[TFS_NAME_MAX + 1];

	if (!ents || !files)
		abort();
	while (pos < size && ne + nf < MAX_ENTRIES) {
		size_t end = pos;
		char *line;
		while (end < size && data[end] != '\n' && data[end] != '\0')
			end++;
		line = strndup((const char *)data + pos, end - pos);
		pos = end + 1;
		if (!line)
			abort();
		if (line[0] == '\x01') {
			/* A file path as the catalog gives them: relative, no empty/dot components. */
			const char *c = line + 1;
			int ok = *c != '\0';
			while (ok && *c) {
				size_t n = strcspn(c, "/");
				ok = n > 0 && c[0] != '.';
				c += n + (c[n] == '/');
				if (c[-1] == '/' && !*c)
					ok = 0;
			}
			for (size_t i = 0; ok && i < nf; i++)
				ok = strcmp(files[i], line + 1) != 0;
			if (ok)
				files[nf++] = strdup(line + 1);
			free(line);
			continue;
		}
		{
			struct entry *e = &ents[ne];
			char *tab = strchr(line, '\t');
			size_t depth = 0, sl = 0, cap;
			const char *c;
			int is_dup = 0;
			if (tab && tab != line && !memchr(line, '/', (size_t)(tab - line)) &&
			    strcmp(tab + 1, "") != 0) {
				*tab = '\0';
				e->comp = strdup(line);
				e->name = strdup(tab + 1);
			} else {
				e->comp = strdup("");
				e->name = strdup(line);
			}
			free(line);
			if (!e->name[0] || strcmp(e->comp, ".") == 0 || strcmp(e->comp, "..") == 0) {
				free(e->comp);
				free(e->name);
				continue;   /* the parser and layout refuse these */
			}
			e->key = e->comp[0] ? tfs_path_join(e->comp, e->name) : strdup(e->name);
			for (size_t i = 0; i < ne; i++)
				is_dup |= strcmp(ents[i].key, e->key) == 0;
			if (is_dup) {  /* the catalog refuses duplicate keys */
				free(e->comp);
				free(e->name);
				free(e->key);
				continue;
			}
			cap = (strlen(e->name) + 2) * (TFS_NAME_MAX + 2) + TFS_NAME_MAX + 2;
			e->seq = malloc(cap);
			if (e->comp[0]) {
				escape_checked(e->comp, strlen(e->comp), esc);
				sl += (size_t)sprintf(e->seq + sl, "%s/", esc);
				depth++;
			}
			for (c = e->name;; ) {
				const char *dot = strchr(c, '.');
				size_t len = dot ? (size_t)(dot - c) : strlen(c);
				escape_checked(c, len, esc);
				sl += (size_t)sprintf(e->seq + sl, "%s/", esc);
				depth++;
				if (!dot)
					break;
				c = dot + 1;
			}
			e->depth = depth;
			too_deep |= depth > MAX_DEPTH;
			ne++;
		}
	}
	{
		char **seqs = malloc((ne + 1) * sizeof(char *));
		for (size_t i = 0; i < ne; i++)
			seqs[i] = ents[i].seq;
		qsort(seqs, ne, sizeof(char *), cmp_str);
		for (size_t i = 1; i < ne; i++)
			dup |= strcmp(seqs[i - 1], seqs[i]) == 0;
		free(seqs);
	}

	/* The in-memory catalog: one shard holding every tensor, plus the files. */
	cat.root = "/fuzz";
	cat.layout = "safetensors";
	cat.n_files = nf + 1;
	cat.files = calloc(nf + 1, sizeof(*cat.files));
	cat.tensors = calloc(ne + 1, sizeof(*cat.tensors));
	if (!cat.files || !cat.tensors)
		abort();
	cat.files[0].pub.path = "/fuzz/model.safetensors";
	cat.files[0].pub.rel = "model.safetensors";
	cat.files[0].pub.is_shard = 1;
	cat.files[0].component = "";
	for (size_t i = 0; i < nf; i++) {
		cat.files[i + 1].pub.path = files[i];
		cat.files[i + 1].pub.rel = files[i];
	}
	for (size_t i = 0; i < ne; i++) {
		cat.tensors[i].key = ents[i].key;
		cat.tensors[i].name = ents[i].name;
		cat.tensors[i].component = ents[i].comp;
		cat.tensors[i].length = i;
	}
	cat.n_tensors = ne;

	rc = tfs_tree_build(&cat, NULL, &tree, &err);
	if (rc == 0) {
		FZ_CHECK(!dup && !too_deep);
		fz_check_tree(&cat, tree);
		tfs_tree_free(tree);
	} else {
		FZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) && err.msg[0]);
		if (!too_deep)
			FZ_CHECK(rc == -EEXIST && dup);
		else
			FZ_CHECK(rc == -ENAMETOOLONG || (rc == -EEXIST && dup));
	}

	for (size_t i = 0; i < ne; i++) {
		free(ents[i].comp);
		free(ents[i].name);
		free(ents[i].key);
		free(ents[i].seq);
	}
	for (size_t i = 0; i < nf; i++)
		free(files[i]);
	free(ents);
	free(files);
	free(cat.files);
	free(cat.tensors);
	return 0;
}
