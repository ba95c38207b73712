/* log.c - a mount's log (see log.h): one line per event, safe to call from any FUSE thread. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

struct tfs_log {
	FILE *file;             /* NULL: stderr or syslog */
	int use_stderr;
	pthread_mutex_t lock;   /* keeps lines whole when threads log at once */
};

struct tfs_log *tfs_log_open(const char *path, int use_stderr)
{
	struct tfs_log *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	if (path) {
		l->file = fopen(path, "ae");
		if (!l->file) {
			free(l);
			return NULL;
		}
		setvbuf(l->file, NULL, _IOLBF, 0);
	}
	l->use_stderr = use_stderr;
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

void tfs_log_detach(struct tfs_log *l)
{
	if (l && !l->file) {
		l->use_stderr = 0;
		openlog("tensorfs", LOG_PID, LOG_DAEMON);
	}
}

void tfs_log_close(struct tfs_log *l)
{
	if (!l)
		return;
	if (l->file)
		fclose(l->file);
	else if (!l->use_stderr)
		closelog();
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void tfs_log(struct tfs_log *l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!l) {
		fprintf(stderr, "tensorfs: %s\n", line);
		return;
	}
	pthread_mutex_lock(&l->lock);
	if (l->file || l->use_stderr) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
		fprintf(l->file ? l->file : stderr, "%s tensorfs: %s\n", ts, line);
	} else {
		syslog(LOG_NOTICE, "%s", line);
	}
	pthread_mutex_unlock(&l->lock);
}
