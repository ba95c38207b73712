/* cmds.h - subcommands of `tensorfs` that live in their own files (main.c dispatches). */
#ifndef TFS_CMDS_H
#define TFS_CMDS_H

/* `tensorfs load` (cmd_load.c): argv[0] is "load"; returns the exit code. */
int tfs_cmd_load(int argc, char **argv);

/* remote.c: --header 'Name: value' (appended to the HTTP source's headers) and --s3-endpoint URL.
 * Each returns 0, or the exit code to leave with after printing why. */
int tfs_cli_add_header(const char *h);
int tfs_cli_set_s3_endpoint(const char *url);
/* 1 when CKPT is a URL (http://, https://, s3://) rather than a local path. */
int tfs_cli_is_url(const char *ckpt);

/* The usage lines of those options, for each command's --help. */
#define TFS_CLI_REMOTE_USAGE \
	"      --header 'NAME: VALUE'  extra HTTP request header for URL checkpoints (repeatable;\n" \
	"                          HF_TOKEN is sent as a bearer token to huggingface.co by itself)\n" \
	"      --s3-endpoint URL   S3-compatible store for s3:// checkpoints (path-style requests;\n" \
	"                          credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)\n"

#endif
