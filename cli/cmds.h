/* cmds.h - subcommands of `tensorfs` that live in their own files (main.c dispatches). */
#ifndef TFS_CMDS_H
#define TFS_CMDS_H

/* `tensorfs load` (cmd_load.c): argv[0] is "load"; returns the exit code. */
int tfs_cmd_load(int argc, char **argv);

#endif
