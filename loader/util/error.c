/* error.c - one-line error messages for struct tfs_error (see error.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "error.h"

int tfs_error_set(struct tfs_error *err, int code, const char *fmt, ...)
{
	static const char cut[] = " [...] ";
	const size_t cap = sizeof(err->msg), head = cap / 3;
	char *full = NULL;
	va_list ap;
	int n;

	if (!err)
		return code;
	va_start(ap, fmt);
	n = vasprintf(&full, fmt, ap);
	va_end(ap);
	if (n < 0) { /* out of memory: the head is better than nothing */
		va_start(ap, fmt);
		vsnprintf(err->msg, cap, fmt, ap);
		va_end(ap);
		return code;
	}
	if ((size_t)n < cap) {
		memcpy(err->msg, full, (size_t)n + 1);
	} else {
		size_t tail = cap - 1 - head - (sizeof(cut) - 1);

		memcpy(err->msg, full, head);
		memcpy(err->msg + head, cut, sizeof(cut) - 1);
		memcpy(err->msg + head + sizeof(cut) - 1, full + n - tail, tail + 1);
	}
	free(full);
	return code;
}
