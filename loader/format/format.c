/*
 * format.c - the format table (see format.h): which checkpoint formats exist and how a file is
 * matched to one. The catalog reaches every format through this table only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "format/format.h"

/* Probed in this order; a format with a real magic number goes before safetensors, whose probe
 * is a plausibility test. A new format is one line here. */
static const struct tfs_format *const formats[] = {
	&tfs_format_safetensors,
};

#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return lx && ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

const struct tfs_format *tfs_format_by_suffix(const char *name)
{
	for (size_t i = 0; i < N_FORMATS; i++)
		if (formats[i]->suffix && ends_with(name, formats[i]->suffix))
			return formats[i];
	return NULL;
}

int tfs_format_detect(struct tfs_source *src, const struct tfs_format **out, struct tfs_error *err)
{
	unsigned char head[TFS_FORMAT_PROBE_BYTES];
	uint64_t size = src->info.size;
	size_t n = size < sizeof(head) ? (size_t)size : sizeof(head);
	ssize_t got = n ? tfs_source_read(src, head, n, 0, 0, err) : 0;

	if (got < 0)
		return (int)got;
	n = (size_t)got; /* short only when the file shrank: the probes see what is there */
	for (size_t i = 0; i < N_FORMATS; i++) {
		if (formats[i]->probe(head, n, size)) {
			*out = formats[i];
			return 0;
		}
	}
	*out = tfs_format_by_suffix(src->path);
	if (*out)
		return 0;
	char names[128] = "";
	for (size_t i = 0; i < N_FORMATS; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
			 formats[i]->name);
	return tfs_error_set(err, -EINVAL, "%s: not a checkpoint format tensorfs reads (%s)", src->path,
			     names);
}

void tfs_fmt_header_free(struct tfs_fmt_header *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->t[i].name);
		free(h->t[i].shape);
	}
	for (size_t i = 0; i < h->n_meta; i++) {
		free(h->meta_keys[i]);
		free(h->meta_vals[i]);
	}
	free(h->t);
	free(h->meta_keys);
	free(h->meta_vals);
	memset(h, 0, sizeof(*h));
}
