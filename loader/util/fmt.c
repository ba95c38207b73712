/* fmt.c - tfs_fmt_bytes (see fmt.h). */
#include <inttypes.h>
#include <stdio.h>

#include "fmt.h"

const char *tfs_fmt_bytes(uint64_t v, char *buf, size_t cap)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double x = (double)v;
	unsigned u = 0;

	if (v < 1024) {
		snprintf(buf, cap, "%" PRIu64 " B", v);
		return buf;
	}
	while (x >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024.0;
		u++;
	}
	snprintf(buf, cap, "%.2f %s", x, units[u]);
	return buf;
}
