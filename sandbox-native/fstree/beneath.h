/* Opening names below a directory fd without ever leaving it (see beneath.c). */
#ifndef FSTREE_BENEATH_H
#define FSTREE_BENEATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* One name of `dirfd` (no '/', not "." or ".."): never a symlink, never across a mount. */
int open_child(int dirfd, const char *name, int flags);

/* A relative path below `rootfd`: symlinks are followed only while they stay below it (or,
 * without `symlinks`, not at all). */
int open_below(int rootfd, const char *path, int flags, bool symlinks);

/* The names of a directory (without . and ..), sorted by their bytes. Caller frees. */
int sorted_names(int dirfd, char ***names, size_t *count);
void free_names(char **names, size_t count);

/* The last failure, for the one JSON error line on stderr. */
void fail(const char *code, const char *path, int err, const char *what);

#endif
