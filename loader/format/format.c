/* format.c - what every format shares (format.h). */
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

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
	free(h->meta_json);
	memset(h, 0, sizeof(*h));
}
