/*
 * profile.c - the learned warm-up order (see profile.h for the contract and the file format).
 *
 * Blocks are numbered across files: file i's block k is bit base[i] + k of the bitmaps. Recording
 * sets a block's bit in `seen` with one atomic OR; the first setter appends it to the runs under
 * the lock, extending the last run when the block follows it (a shard read in order is one run).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/profile.h"
#include "error.h"
#include "grow.h"

struct tfs_profile {
	char *path;                        /* NULL: off; immutable */
	const struct tfs_file *const *files; /* the engine's; immutable */
	size_t n_files;
	uint64_t bs;
	uint64_t *base;                    /* first bit of each file; immutable */
	uint64_t n_blocks;
	_Atomic uint64_t *seen;            /* demand-read blocks, this engine */
	uint64_t *planned;                 /* blocks in the loaded order; immutable after open */
	struct tfs_profile_run *order;     /* loaded; immutable after open */
	size_t n_order;
	pthread_mutex_t lock;
	struct tfs_profile_run *runs;      /* recorded, first-read order; lock */
	size_t n_runs, cap_runs;           /* lock */
	char status[PATH_MAX + 96];        /* immutable after open */
	uint64_t n_loaded, n_recorded;     /* blocks; n_recorded under lock */
	int discard;                       /* set by the engine before close */
};

static void load(struct tfs_profile *p)
{
	FILE *f = fopen(p->path, "re");
	char line[PATH_MAX + 96], rel[PATH_MAX];
	unsigned long long bs, nf, size, first, count;
	long long mtime;
	unsigned file;
	size_t i = 0, cap = 0, loaded = 0;
	const char *why = NULL;
	int at = 0;

	if (!f) {
		snprintf(p->status, sizeof(p->status), errno == ENOENT ? "none yet (%s)" :
			 "ignored: cannot read (%s)", p->path);
		return;
	}
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "tensorfs-profile 1 %llu %llu", &bs, &nf) != 2)
		why = "not a tensorfs profile";
	else if (bs != p->bs)
		why = "other block size";
	else if (nf != p->n_files)
		why = "checkpoint changed";
	for (; !why && i < p->n_files; i++) {
		size_t n;

		at = 0;
		if (!fgets(line, sizeof(line), f) ||
		    sscanf(line, "F %llu %lld %n", &size, &mtime, &at) < 2 || !at) {
			why = "malformed";
			break;
		}
		snprintf(rel, sizeof(rel), "%s", line + at);
		n = strlen(rel);
		if (n && rel[n - 1] == '\n')
			rel[--n] = '\0';
		if (size != p->files[i]->size || mtime != (long long)p->files[i]->mtime_ns ||
		    strcmp(rel, p->files[i]->rel) != 0)
			why = "checkpoint changed";
	}
	while (!why && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "R %u %llu %llu", &file, &first, &count) != 3 || file >= p->n_files ||
		    count == 0 || first >= p->base[file + 1] - p->base[file] ||
		    count > p->base[file + 1] - p->base[file] - first) {
			why = "malformed";
			break;
		}
		if (tfs_grow(&p->order, &cap, p->n_order + 1, sizeof(*p->order), 64) < 0) {
			why = "out of memory";
			break;
		}
		p->order[p->n_order++] = (struct tfs_profile_run){ file, first, count };
		for (uint64_t k = 0; k < count; k++) {
			uint64_t bit = p->base[file] + first + k;
			p->planned[bit / 64] |= 1ull << (bit % 64);
		}
		loaded += count;
	}
	p->n_loaded = loaded;
	fclose(f);
	if (why) {
		free(p->order);
		p->order = NULL;
		p->n_order = 0;
		memset(p->planned, 0, (p->n_blocks + 63) / 64 * sizeof(*p->planned));
		snprintf(p->status, sizeof(p->status), "ignored: %s (%s)", why, p->path);
		return;
	}
	snprintf(p->status, sizeof(p->status), "loaded %zu blocks (%s)", loaded, p->path);
}

int tfs_profile_open(const char *path, const struct tfs_file *const *files, size_t n_files,
		     uint64_t bs, struct tfs_profile **out, struct tfs_error *err)
{
	struct tfs_profile *p = calloc(1, sizeof(*p));
	size_t words;

	if (!p)
		return tfs_error_set(err, -ENOMEM, "profile: out of memory");
	pthread_mutex_init(&p->lock, NULL);
	p->files = files;
	p->n_files = n_files;
	p->bs = bs;
	snprintf(p->status, sizeof(p->status), "off");
	*out = p;
	if (!path || !*path)
		return 0;
	p->base = calloc(n_files + 1, sizeof(*p->base));
	if (!p->base)
		goto nomem;
	for (size_t i = 0; i < n_files; i++)
		p->base[i + 1] = p->base[i] + (files[i]->size + bs - 1) / bs;
	p->n_blocks = p->base[n_files];
	words = (p->n_blocks + 63) / 64 + 1;
	p->seen = calloc(words, sizeof(*p->seen));
	p->planned = calloc(words, sizeof(*p->planned));
	p->path = strdup(path);
	if (!p->seen || !p->planned || !p->path)
		goto nomem;
	load(p);
	return 0;
nomem:
	tfs_profile_close(p);
	*out = NULL;
	return tfs_error_set(err, -ENOMEM, "profile: out of memory");
}

/* Writes the recorded runs to path, whole or not at all (temporary file + rename). */
static void save(struct tfs_profile *p)
{
	char tmp[PATH_MAX + 32];
	FILE *f;
	int ok;

	if (!p->n_runs || p->discard)
		return; /* nothing read, or another reader: keep what the last engine learned */
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", p->path, (long)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return;
	ok = fprintf(f, "tensorfs-profile 1 %" PRIu64 " %zu\n", p->bs, p->n_files) > 0;
	for (size_t i = 0; ok && i < p->n_files; i++)
		ok = fprintf(f, "F %" PRIu64 " %" PRId64 " %s\n", p->files[i]->size,
			     p->files[i]->mtime_ns, p->files[i]->rel) > 0;
	for (size_t i = 0; ok && i < p->n_runs; i++)
		ok = fprintf(f, "R %" PRIu32 " %" PRIu64 " %" PRIu64 "\n", p->runs[i].file,
			     p->runs[i].first, p->runs[i].count) > 0;
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, p->path) != 0)
		unlink(tmp);
}

void tfs_profile_close(struct tfs_profile *p)
{
	if (!p)
		return;
	if (p->path && p->seen)
		save(p);
	pthread_mutex_destroy(&p->lock);
	free(p->runs);
	free(p->order);
	free((void *)p->seen);
	free(p->planned);
	free(p->base);
	free(p->path);
	free(p);
}

void tfs_profile_note(struct tfs_profile *p, uint32_t file, uint64_t first, uint64_t end)
{
	if (!p->seen || file >= p->n_files || !p->files[file]->is_shard)
		return;
	if (end > p->base[file + 1] - p->base[file])
		end = p->base[file + 1] - p->base[file];
	for (uint64_t k = first; k < end; k++) {
		uint64_t bit = p->base[file] + k, m = 1ull << (bit % 64);
		struct tfs_profile_run *last;

		if (atomic_load_explicit(&p->seen[bit / 64], memory_order_relaxed) & m)
			continue;
		if (atomic_fetch_or(&p->seen[bit / 64], m) & m)
			continue; /* another reader got there first */
		pthread_mutex_lock(&p->lock);
		p->n_recorded++;
		last = p->n_runs ? &p->runs[p->n_runs - 1] : NULL;
		if (last && last->file == file && last->first + last->count == k) {
			last->count++;
		} else if (tfs_grow(&p->runs, &p->cap_runs, p->n_runs + 1, sizeof(*p->runs), 64) == 0) {
			p->runs[p->n_runs++] = (struct tfs_profile_run){ file, k, 1 };
		}
		pthread_mutex_unlock(&p->lock);
	}
}

uint64_t tfs_profile_blocks(struct tfs_profile *p, int loaded)
{
	uint64_t n;

	if (loaded)
		return p->n_loaded;
	pthread_mutex_lock(&p->lock);
	n = p->n_recorded;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void tfs_profile_discard(struct tfs_profile *p)
{
	p->discard = 1;
}

size_t tfs_profile_order(const struct tfs_profile *p, const struct tfs_profile_run **runs)
{
	*runs = p->order;
	return p->n_order;
}

int tfs_profile_head(const struct tfs_profile *p, uint32_t file, uint64_t index, uint64_t n)
{
	for (size_t r = 0; r < p->n_order && n; r++) {
		const struct tfs_profile_run *run = &p->order[r];
		uint64_t take = run->count < n ? run->count : n;
		if (run->file == file && index >= run->first && index < run->first + take)
			return 1;
		n -= take;
	}
	return 0;
}

int tfs_profile_planned(const struct tfs_profile *p, uint32_t file, uint64_t index)
{
	uint64_t bit;

	if (!p->n_order || file >= p->n_files || index >= p->base[file + 1] - p->base[file])
		return 0;
	bit = p->base[file] + index;
	return (p->planned[bit / 64] >> (bit % 64)) & 1;
}

const char *tfs_profile_status(const struct tfs_profile *p)
{
	return p->status;
}
