/* log.h - where a mount's messages go: a --log file, stderr in the foreground, else syslog. */
#ifndef TFS_LOG_H
#define TFS_LOG_H

struct tfs_log;

/* path: a file to append to, or NULL; use_stderr: foreground. Returns NULL only when out of memory
 * or the file cannot be opened (errno set). Owned by the caller; tfs_log_close accepts NULL. */
struct tfs_log *tfs_log_open(const char *path, int use_stderr);
void tfs_log_close(struct tfs_log *l);
/* Switches to syslog once the daemon has detached from its terminal (unless a file was given). */
void tfs_log_detach(struct tfs_log *l);
void tfs_log(struct tfs_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
