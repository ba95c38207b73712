/* grow.c - tfs_grow and tfs_text_add_line (see grow.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

int tfs_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t first)
{
	void **p = arr;
	size_t c = *cap ? *cap : (first ? first : 1);
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return -ENOMEM;
		c *= 2;
	}
	if (elem && c > SIZE_MAX / elem)
		return -ENOMEM;
	q = realloc(*p, c * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

int tfs_text_add_line(char **text, size_t *len, size_t *cap, const char *line)
{
	size_t n = strlen(line);

	if (tfs_grow(text, cap, *len + n + 2, 1, 256) < 0)
		return -ENOMEM;
	memcpy(*text + *len, line, n);
	*len += n;
	(*text)[(*len)++] = '\n';
	(*text)[*len] = '\0';
	return 0;
}
