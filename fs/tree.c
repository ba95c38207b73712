/*
 * tree.c - turns the catalog's flat list of names into the directory tree of the mount (rules in
 * tree.h). Built once at mount: a hash of (parent, name) makes each insertion and lookup O(1), and
 * each folder's children are sorted once at the end (O(k log k) for k children), so building is
 * O(n log n) in the number of names whatever their order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "error.h"
#include "grow.h"
#include "tree.h"

struct tfs_tree {
	struct tfs_node *nodes;
	uint32_t n;              /* node ids are uint32_t: FUSE inode = id + 1 */
	size_t cap;
	uint32_t *hash;          /* open addressing: node id + 1, 0 = empty; keyed by (parent, name) */
	size_t hash_cap;         /* power of two */
	uint32_t *tensor_node;   /* catalog tensor index -> node id */
	char *warnings;          /* lines, each ending in '\n'; NULL when none */
	size_t len_warnings, cap_warnings;
	int renamed_reserved;    /* a top-level ".tensorfs" was shown as RESERVED_AS (warned once) */
};

/* The top-level name of tensorfs' own folder, and what a checkpoint's entry of that name (a
 * diffusers component, say) is shown as: '%' never starts a real component (tree.h). */
#define RESERVED_NAME ".tensorfs"
#define RESERVED_AS "%2Etensorfs"

static uint64_t key_hash(uint32_t parent, const char *name)
{
	return XXH3_64bits_withSeed(name, strlen(name), parent);
}

static int64_t hash_find(const struct tfs_tree *t, uint32_t parent, const char *name)
{
	size_t mask = t->hash_cap - 1;

	for (size_t i = key_hash(parent, name) & mask;; i = (i + 1) & mask) {
		uint32_t v = t->hash[i];
		if (v == 0)
			return -1;
		if (t->nodes[v - 1].parent == parent && strcmp(t->nodes[v - 1].name, name) == 0 &&
		    v - 1 != 0)
			return v - 1;
	}
}

static int hash_grow(struct tfs_tree *t)
{
	size_t cap = t->hash_cap ? t->hash_cap * 2 : 1024;
	uint32_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (uint32_t id = 1; id < t->n; id++) {
		size_t i = key_hash(t->nodes[id].parent, t->nodes[id].name) & (cap - 1);
		while (h[i])
			i = (i + 1) & (cap - 1);
		h[i] = id + 1;
	}
	free(t->hash);
	t->hash = h;
	t->hash_cap = cap;
	return 0;
}

static int add_child(struct tfs_node *dir, uint32_t child)
{
	if (TFS_GROW(dir, children, cap_children, (size_t)dir->n_children + 1, 4) < 0)
		return -ENOMEM;
	dir->children[dir->n_children++] = child;
	return 0;
}

/* Creates node `name` under `parent`; returns its id or -ENOMEM. */
static int64_t new_node(struct tfs_tree *t, uint32_t parent, const char *name,
			enum tfs_node_kind kind, uint32_t ref)
{
	struct tfs_node *nd;
	uint32_t id;

	if (t->n == UINT32_MAX || TFS_GROW(t, nodes, cap, (size_t)t->n + 1, 256) < 0)
		return -ENOMEM;
	id = t->n;
	nd = &t->nodes[id];
	memset(nd, 0, sizeof(*nd));
	nd->name = strdup(name);
	if (!nd->name)
		return -ENOMEM;
	nd->parent = parent;
	nd->kind = kind;
	nd->ref = ref;
	t->n++;
	if (id != 0) {
		if (add_child(&t->nodes[parent], id) < 0)
			return -ENOMEM;
		if ((size_t)t->n * 2 > t->hash_cap) {
			if (hash_grow(t) < 0)
				return -ENOMEM;
		} else {
			size_t mask = t->hash_cap - 1, i = key_hash(parent, name) & mask;
			while (t->hash[i])
				i = (i + 1) & mask;
			t->hash[i] = id + 1;
		}
	}
	return id;
}

/* tfs_tree_escape with the result held to `max` bytes (the cut form when longer). */
static size_t escape_max(const char *comp, size_t len, char *out, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	char buf[4 * TFS_NAME_MAX];
	size_t n = 0, i;

	if (len == 0) {
		strcpy(out, "%");
		return 1;
	}
	for (i = 0; i < len && n + 3 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)comp[i];
		if (c == '%' || c == '/' || c < 0x20 || c == 0x7f) {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		} else {
			buf[n++] = (char)c;
		}
	}
	if (n <= max && i == len) {
		memcpy(out, buf, n);
		out[n] = '\0';
		return n;
	}
	/* Too long for a file name: keep a readable head, cut on a character boundary (not inside a
	 * %XX escape or a UTF-8 sequence), and add "%~" and a hash of the whole component, so two long
	 * names that share the head stay distinct. A bare "%~" never comes out of escaping (a real '%'
	 * is always "%25"), so no short name can equal a cut one. */
	{
		size_t keep = max - 18;
		uint64_t h = XXH3_64bits(comp, len);
		while (keep > 0 && (((unsigned char)buf[keep] & 0xC0) == 0x80 ||
				    (keep >= 1 && buf[keep - 1] == '%') || (keep >= 2 && buf[keep - 2] == '%')))
			keep--;
		memcpy(out, buf, keep);
		return keep + (size_t)sprintf(out + keep, "%%~%016llx", (unsigned long long)h);
	}
}

size_t tfs_tree_escape(const char *comp, size_t len, char *out)
{
	return escape_max(comp, len, out, TFS_NAME_MAX);
}

static void warn(struct tfs_tree *t, const char *msg)
{
	/* A lost warning (out of memory) is better than a failed mount. */
	(void)tfs_text_add_line(&t->warnings, &t->len_warnings, &t->cap_warnings, msg);
}

/*
 * Places a leaf at the path given by `n` components. Directories are created as needed; a leaf met
 * where a directory is needed moves into it as "%self" (and vice versa). Two leaves at one path:
 * a tensor is an error, a plain file is hidden with a warning.
 */
static int place(struct tfs_tree *t, char comps[][TFS_NAME_MAX + 1], size_t n,
		 enum tfs_node_kind kind, uint32_t ref, const char *what, struct tfs_error *err)
{
	uint32_t dir = 0;
	int64_t id;

	if (n > 0 && strcmp(comps[0], RESERVED_NAME) == 0) {
		/* Merged into the virtual folder it would clash with index.json and stats in ways no
		 * message explains well: show it beside, under a name nothing else can have. */
		strcpy(comps[0], RESERVED_AS);
		if (!t->renamed_reserved++)
			warn(t, RESERVED_NAME ": shown as " RESERVED_AS " (" RESERVED_NAME "/ is tensorfs' "
			     "own folder of index.json and stats)");
	}
	for (size_t i = 0; i + 1 < n; i++) {
		id = hash_find(t, dir, comps[i]);
		if (id >= 0 && t->nodes[id].kind != TFS_NODE_DIR) {
			/* The leaf's node becomes the directory (same name, same hash slot); the leaf moves
			 * into it as %self. */
			struct tfs_node leaf = t->nodes[id];
			int64_t d;
			t->nodes[id].kind = TFS_NODE_DIR;
			t->nodes[id].ref = 0;
			d = new_node(t, (uint32_t)id, TFS_SELF_NAME, leaf.kind, leaf.ref);
			if (d < 0)
				return (int)d;
			if (leaf.kind == TFS_NODE_TENSOR)
				t->tensor_node[leaf.ref] = (uint32_t)d;
		} else if (id < 0) {
			id = new_node(t, dir, comps[i], TFS_NODE_DIR, 0);
			if (id < 0)
				return (int)id;
		}
		dir = (uint32_t)id;
	}
	id = hash_find(t, dir, comps[n - 1]);
	if (id >= 0 && t->nodes[id].kind == TFS_NODE_DIR) {
		dir = (uint32_t)id;
		id = hash_find(t, dir, TFS_SELF_NAME);
		if (id < 0)
			id = new_node(t, dir, TFS_SELF_NAME, kind, ref);
		else
			goto collide;
	} else if (id >= 0) {
		goto collide;
	} else {
		id = new_node(t, dir, comps[n - 1], kind, ref);
	}
	if (id < 0)
		return (int)id;
	if (kind == TFS_NODE_TENSOR)
		t->tensor_node[ref] = (uint32_t)id;
	return 0;
collide:
	if (kind == TFS_NODE_FILE) {
		char msg[TFS_ERR_MAX];
		snprintf(msg, sizeof(msg), "%s: hidden: a tensor has the same path in the mount", what);
		warn(t, msg);
		return 0;
	}
	return tfs_error_set(err, -EEXIST, "tensor '%s': its path in the mount is taken by another "
			     "tensor (names that differ only past byte 255 of a component?)", what);
}

/* Splits s on `sep` and escapes each component into comps, `suffix` ("" for none) appended to the
 * last one within the length limit; returns the count or -ENAMETOOLONG. */
static ssize_t split(const char *s, char sep, char comps[][TFS_NAME_MAX + 1], size_t max,
		     const char *suffix)
{
	size_t n = 0, ls = strlen(suffix);
	const char *c = s;

	for (;;) {
		const char *e = strchr(c, sep);
		size_t len = e ? (size_t)(e - c) : strlen(c);
		if (n == max)
			return -ENAMETOOLONG;
		if (e) {
			tfs_tree_escape(c, len, comps[n++]);
		} else {
			size_t k = escape_max(c, len, comps[n], TFS_NAME_MAX - ls);
			memcpy(comps[n++] + k, suffix, ls + 1);
			return (ssize_t)n;
		}
		c = e + 1;
	}
}

#define MAX_DEPTH 128

/* Orders child ids by name (qsort_r comparator; the tree is the context). */
static int cmp_child(const void *a, const void *b, void *tree)
{
	const struct tfs_tree *t = tree;

	return strcmp(t->nodes[*(const uint32_t *)a].name, t->nodes[*(const uint32_t *)b].name);
}

int tfs_tree_build(const struct tfs_catalog *cat, const char *leaf_suffix, struct tfs_tree **out,
		   struct tfs_error *err)
{
	struct tfs_tree *t = calloc(1, sizeof(*t));
	char (*comps)[TFS_NAME_MAX + 1] = malloc(MAX_DEPTH * (TFS_NAME_MAX + 1));
	size_t nt = tfs_catalog_tensor_count(cat);
	int64_t vdir;
	int rc = -ENOMEM;

	if (!t || !comps || hash_grow(t) < 0)
		goto nomem;
	t->tensor_node = calloc(nt + 1, sizeof(*t->tensor_node));
	if (!t->tensor_node || new_node(t, 0, "", TFS_NODE_DIR, 0) < 0)
		goto nomem;
	vdir = new_node(t, 0, ".tensorfs", TFS_NODE_DIR, 0);
	if (vdir < 0 || new_node(t, (uint32_t)vdir, "index.json", TFS_NODE_VIRT, TFS_VIRT_INDEX) < 0 ||
	    new_node(t, (uint32_t)vdir, "stats", TFS_NODE_VIRT, TFS_VIRT_STATS) < 0 ||
	    new_node(t, (uint32_t)vdir, "metadata.json", TFS_NODE_VIRT, TFS_VIRT_METADATA) < 0)
		goto nomem;
	for (size_t i = 0; i < nt; i++) {
		const struct tfs_tensor *ts = tfs_catalog_tensor(cat, i);
		ssize_t n = 0, m;
		if (ts->component[0])
			tfs_tree_escape(ts->component, strlen(ts->component), comps[n++]);
		m = split(ts->name, '.', comps + n, MAX_DEPTH - (size_t)n, leaf_suffix ? leaf_suffix : "");
		if (m < 0) {
			rc = tfs_error_set(err, -ENAMETOOLONG, "tensor '%s': more than %d name components",
					   ts->key, MAX_DEPTH);
			goto fail;
		}
		rc = place(t, comps, (size_t)(n + m), TFS_NODE_TENSOR, (uint32_t)i, ts->key, err);
		if (rc < 0)
			goto fail;
	}
	for (size_t i = 0; i < tfs_catalog_file_count(cat); i++) {
		const struct tfs_file *f = tfs_catalog_file(cat, i);
		ssize_t n = split(f->rel, '/', comps, MAX_DEPTH, "");
		if (n < 0)
			continue; /* deeper than any real checkpoint; the catalog caps depth anyway */
		rc = place(t, comps, (size_t)n, TFS_NODE_FILE, (uint32_t)i, f->path, err);
		if (rc < 0)
			goto fail;
	}
	/* readdir lists children sorted by name: stable across mounts, easy on `ls`. */
	for (uint32_t id = 0; id < t->n; id++)
		if (t->nodes[id].n_children > 1) /* a leaf's list is NULL: qsort_r wants a real array */
			qsort_r(t->nodes[id].children, t->nodes[id].n_children, sizeof(uint32_t), cmp_child, t);
	free(comps);
	*out = t;
	return 0;
nomem:
	rc = tfs_error_set(err, -ENOMEM, "tree: out of memory");
fail:
	free(comps);
	tfs_tree_free(t);
	return rc;
}

void tfs_tree_free(struct tfs_tree *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n; i++) {
		free(t->nodes[i].name);
		free(t->nodes[i].children);
	}
	free(t->nodes);
	free(t->hash);
	free(t->tensor_node);
	free(t->warnings);
	free(t);
}

size_t tfs_tree_count(const struct tfs_tree *t) { return t->n; }
const char *tfs_tree_warnings(const struct tfs_tree *t) { return t->warnings ? t->warnings : ""; }
uint32_t tfs_tree_tensor_node(const struct tfs_tree *t, size_t i) { return t->tensor_node[i]; }

const struct tfs_node *tfs_tree_node(const struct tfs_tree *t, uint32_t id)
{
	return id < t->n ? &t->nodes[id] : NULL;
}

int64_t tfs_tree_lookup(const struct tfs_tree *t, uint32_t dir, const char *name)
{
	if (dir >= t->n || t->nodes[dir].kind != TFS_NODE_DIR)
		return -1;
	return hash_find(t, dir, name);
}

int tfs_tree_path(const struct tfs_tree *t, uint32_t id, char *buf, size_t cap)
{
	size_t len = 0;

	/* Walk up collecting lengths, then write backwards: no recursion, no allocation. */
	for (uint32_t i = id; i != 0; i = t->nodes[i].parent)
		len += strlen(t->nodes[i].name) + (t->nodes[i].parent != 0);
	if (len + 1 > cap)
		return -ENAMETOOLONG;
	buf[len] = '\0';
	for (uint32_t i = id; i != 0; i = t->nodes[i].parent) {
		size_t l = strlen(t->nodes[i].name);
		len -= l;
		memcpy(buf + len, t->nodes[i].name, l);
		if (t->nodes[i].parent != 0)
			buf[--len] = '/';
	}
	return 0;
}
