/*
 * Every path this program touches in a tree it does not trust is one name resolved against the
 * fd of a directory it already holds. A container can rename and swap entries while we walk
 * (renameat2(RENAME_EXCHANGE) of a directory with a symlink), but a held directory fd stays
 * the directory it was, and openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) refuses a name that
 * is, by the time the kernel looks, a symlink or a mount point. So no race can point us outside
 * the tree: the worst a racing container gets is a snapshot of its own files that is
 * inconsistent in time, or a refused entry.
 */
#include "beneath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int openat2_(int dirfd, const char *path, int flags, unsigned long long resolve)
{
    struct open_how how = { .flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int open_child(int dirfd, const char *name, int flags)
{
    if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
        errno = EINVAL;
        return -1;
    }
    return openat2_(dirfd, name, flags | O_NOFOLLOW,
                    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
}

int open_below(int rootfd, const char *path, int flags, bool symlinks)
{
    /* RESOLVE_BENEATH fails with EXDEV on an absolute link or a ".." that climbs out. */
    unsigned long long resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS;
    if (!symlinks) {
        resolve |= RESOLVE_NO_SYMLINKS;
        flags |= O_NOFOLLOW;
    }
    return openat2_(rootfd, path, flags, resolve);
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sorted_names(int dirfd, char ***names, size_t *count)
{
    /* A fresh open of "." gives the listing its own file offset. */
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return -1;
    }
    size_t n = 0, cap = 16;
    char **list = malloc(cap * sizeof *list);
    struct dirent *de;
    errno = 0;
    while (list && (de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n == cap) {
            char **grown = realloc(list, (cap *= 2) * sizeof *list);
            if (!grown) break;
            list = grown;
        }
        list[n] = strdup(de->d_name);
        if (!list[n]) break;
        n++;
    }
    int err = errno;
    closedir(dir);
    if (!list || err) {
        free_names(list, n);
        errno = err ? err : ENOMEM;
        return -1;
    }
    qsort(list, n, sizeof *list, by_bytes);
    *names = list;
    *count = n;
    return 0;
}

void free_names(char **names, size_t count)
{
    if (!names) return;
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
}

void fail(const char *code, const char *path, int err, const char *what)
{
    /* One JSON line; the path as hex, since names may be any bytes. */
    fprintf(stderr, "{\"error\":\"%s\",\"errno\":%d,\"message\":\"%s: %s\",\"path\":\"", code, err, what,
            err ? strerror(err) : code);
    for (const unsigned char *p = (const unsigned char *)(path ? path : ""); *p; p++) fprintf(stderr, "%02x", *p);
    fprintf(stderr, "\"}\n");
}
