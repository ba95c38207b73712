/* xattr.h - getxattr/listxattr of tensor files (xattr.c), for the ops table in ops.c. */
#ifndef TFS_XATTR_H
#define TFS_XATTR_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

void tfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void tfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

#endif
