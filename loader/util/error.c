/* error.c - one-line error messages for struct tfs_error (see error.h). */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

int tfs_error_set(struct tfs_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}
