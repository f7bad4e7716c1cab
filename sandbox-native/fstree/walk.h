/* A depth-first walk of a tree, names in byte order, every step fd-relative (walk.c). */
#ifndef FSTREE_WALK_H
#define FSTREE_WALK_H

#include <stddef.h>
#include <sys/stat.h>

struct node {
    const char *rel;  /* path from the root ("" for the root itself) */
    const char *name; /* its last component ("" for the root) */
    struct stat st;   /* from the held fd where there is one, so it describes what fd reads */
    int fd;           /* directories and regular files: held open (read-only); otherwise -1 */
    const char *link; /* symlinks: the target (not NUL-safe: see link_len) */
    size_t link_len;
};

struct visitor {
    /* Every entry, parents first. For a directory, *cookie is handed to its children as
     * `parent` and to leave() once they are done. Nonzero stops the walk. */
    int (*visit)(void *ctx, const struct node *n, void *parent, void **cookie);
    int (*leave)(void *ctx, const struct node *n, void *cookie);
    void *ctx;
};

/* rootfd: an open directory. Returns 0, or -1 after fail() said why. */
int walk_tree(int rootfd, const struct visitor *v, unsigned long max_entries);

#endif
