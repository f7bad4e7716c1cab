#include "rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#define MAX_LAYERS 128

/* A private copy of `path`'s mount whose owners are shifted by the container's mapping:
 * uid 0 on disk is the container's root, and what the container writes lands on disk with
 * its in-container owner. */
static int idmapped_clone(const char *path, int userns_fd, bool recursive, bool readonly, struct sn_error *e)
{
    int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (fd < 0) return sn_fail(e, "rootfs", errno, "cloning the mount of %s", path);
    /* nodev, nosuid: a device node or setuid file that came with a layer is inert, whatever
     * the device rules and no_new_privs already do. */
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID |
                                           (readonly ? MOUNT_ATTR_RDONLY : 0),
                               .userns_fd = (uint64_t)userns_fd };
    if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
        int saved = errno;
        close(fd);
        return sn_fail(e, "rootfs", saved, "idmapping %s (the filesystem must support idmapped mounts)", path);
    }
    return fd;
}

/* Overlayfs records its mounter's credentials and uses them for copy-up and the work dir.
 * Through idmapped layers host root is unmapped (EOVERFLOW), so mount as the container's root:
 * fsuid/fsgid set to its host ids, capabilities kept (changing fsuid drops the file ones from
 * the effective set; they are raised again from the permitted set). */
struct creds { uid_t fsuid; gid_t fsgid; struct __user_cap_data_struct caps[2]; };

static int become_mounter(uid_t uid, gid_t gid, struct creds *saved)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    if (syscall(SYS_capget, &hdr, saved->caps) < 0) return -1;
    saved->fsuid = (uid_t)setfsuid(uid);
    saved->fsgid = (gid_t)setfsgid(gid);
    struct __user_cap_data_struct raised[2];
    memcpy(raised, saved->caps, sizeof raised);
    for (int i = 0; i < 2; i++) raised[i].effective = raised[i].permitted;
    return (int)syscall(SYS_capset, &hdr, raised);
}

static void restore_creds(const struct creds *saved)
{
    setfsuid(saved->fsuid);
    setfsgid(saved->fsgid);
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    syscall(SYS_capset, &hdr, saved->caps);
}

/* What the container's root filesystem is made of, cloned (and idmapped) while we still
 * stand in our own namespace, where their host paths are reachable. */
struct sources {
    int layers[MAX_LAYERS];
    int n;
    int upper;   /* -1 without a writable layer */
    int root;    /* root.path itself when there are no layers */
    int parent;  /* root.path's parent, to show a plain root as an overlay; -1 if it cannot be */
    char name[NAME_MAX + 1], aside[NAME_MAX + 1];   /* root.path's name, and the overlay's dir beside it */
};

static void close_sources(struct sources *src)
{
    for (int i = 0; i < src->n; i++) close(src->layers[i]);
    if (src->upper >= 0) close(src->upper);
    if (src->root >= 0) close(src->root);
    if (src->parent >= 0) close(src->parent);
    src->n = 0;
    src->upper = src->root = src->parent = -1;
}

/* ---- a plain directory shown as an overlay ---------------------------------------------
 * Bind-mounted, a plain directory shows its host path: mountinfo's root field is the mount's
 * root within its filesystem. Only another superblock hides it, so the directory becomes the
 * upper layer of an overlay over an empty lower one, and the container still reads and
 * writes the directory itself. overlayfs wants its work dir on the upper's mount (and outside
 * it), so both it and the empty lower live beside the rootfs in `.NAME.overlay-ID`, made at
 * create and removed when the container stops or is deleted (rootfs_release). The price,
 * what overlayfs documents for any change to a layer under a mounted overlay: the container
 * caches what it looked up, so a name it looked up before the host created it stays unseen
 * (README, "What it enforces"). */

/* `.NAME.overlay-ID` and the parent directory of `rootfs`; false where the names cannot go
 * into overlayfs's option string or the rootfs has no parent to hold them. */
static bool aside_of(const char *rootfs, const char *id, char parent[PATH_MAX], char name[NAME_MAX + 1],
                     char aside[NAME_MAX + 1])
{
    const char *slash = strrchr(rootfs, '/');
    if (!slash || slash == rootfs || !slash[1] || strpbrk(rootfs, " \t\n\\,:=") || strpbrk(id, ",:=") ||
        strlen(slash + 1) + strlen(id) + sizeof ".." ".overlay-" > NAME_MAX + 1 || (size_t)(slash - rootfs) >= PATH_MAX)
        return false;
    snprintf(parent, PATH_MAX, "%.*s", (int)(slash - rootfs), rootfs);
    snprintf(name, NAME_MAX + 1, "%s", slash + 1);
    snprintf(aside, NAME_MAX + 1, ".%s.overlay-%s", slash + 1, id);
    return true;
}

/* Remove `name` beneath `dir` and what it holds, following nothing. Only overlayfs writes
 * below the aside dir (the container cannot reach it): work/work/incompat/volatile/dirty is
 * its deepest, so a small depth bound suffices. */
#define ASIDE_DEPTH 8
static int remove_at(int dir, const char *name, int depth)
{
    struct stat st;
    /* Not there is done; asked first, because a read-only filesystem refuses even that unlink. */
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT ? 0 : -1;
    if (unlinkat(dir, name, 0) == 0) return 0;
    if (errno != EISDIR && errno != EPERM) return -1;
    int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 && depth > 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return unlinkat(dir, name, AT_REMOVEDIR);
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) remove_at(dirfd(d), de->d_name, depth - 1);
    closedir(d);
    return unlinkat(dir, name, AT_REMOVEDIR);
}

int rootfs_release(const char *rootfs, const char *id)
{
    char parent[PATH_MAX], name[NAME_MAX + 1], aside[NAME_MAX + 1];
    if (!aside_of(rootfs, id, parent, name, aside)) return 0;
    _cleanup_close_ int dir = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return errno == ENOENT ? 0 : -1;
    return remove_at(dir, aside, ASIDE_DEPTH);
}

/* Is anything mounted at or under `dir`? The overlay would show what is beneath those mounts. */
static bool has_mounts_under(const char *dir)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return true;
    char line[4096], mnt[4096];
    size_t n = strlen(dir);
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        if (sscanf(line, "%*d %*d %*s %*s %4095s", mnt) == 1 && strncmp(mnt, dir, n) == 0 && (mnt[n] == 0 || mnt[n] == '/'))
            found = true;
    fclose(f);
    return found;
}

/* The idmapped parent of a plain rootfs, with `.NAME.overlay-ID/{lower,work}` made in it; -1
 * (and why, in `why`) where the rootfs stays bind-mounted: odd names, a rootfs that is or holds
 * a mount point, a parent we cannot write (a read-only bundle) or idmap. */
static int clone_plain_parent(const struct sn_spec *s, const char *id, int userns_fd, struct sources *src,
                              const char **why)
{
    char parent[PATH_MAX];
    if (!aside_of(s->rootfs, id, parent, src->name, src->aside)) return *why = "its path or id cannot name an overlay's layers", -1;
    if (has_mounts_under(s->rootfs)) return *why = "it is or holds a mount point", -1;
    _cleanup_close_ int dir = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return *why = "its parent cannot be opened", -1;
    /* Made afresh: one already there is a leftover of this id's earlier container whose host
     * went down before delete (ids are unique under a --root), and its lower may not be empty. */
    if ((remove_at(dir, src->aside, ASIDE_DEPTH) < 0 && errno != EROFS) || mkdirat(dir, src->aside, 0700) < 0)
        return *why = errno == EEXIST || errno == ENOTEMPTY ? "the overlay's dir beside it cannot be removed" : "its parent is not writable", -1;
    _cleanup_close_ int aside = openat(dir, src->aside, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct sn_error ignored;
    int fd = -1;
    if (aside < 0 || mkdirat(aside, "lower", 0700) < 0 || mkdirat(aside, "work", 0700) < 0) *why = "its parent is not writable";
    else if ((fd = idmapped_clone(parent, userns_fd, false, false, &ignored)) < 0) *why = "its parent cannot be idmapped";
    if (fd < 0) remove_at(dir, src->aside, ASIDE_DEPTH);
    return fd;
}

static int clone_sources(const struct sn_spec *s, const char *id, int userns_fd, struct sources *src, struct sn_error *e)
{
    src->n = 0;
    src->upper = src->root = src->parent = -1;
    if (!s->layers) {
        src->root = idmapped_clone(s->rootfs, userns_fd, true, false, e);
        if (src->root < 0) return -1;
        const char *why = NULL;
        if ((src->parent = clone_plain_parent(s, id, userns_fd, src, &why)) < 0)
            sn_log("note: %s is bind-mounted, so /proc/self/mountinfo shows its path: %s", s->rootfs, why);
        return 0;
    }
    char *list = strdup(s->layers);
    if (!list) return sn_fail(e, "rootfs", ENOMEM, "layers");
    int rc = 0;
    for (char *save = NULL, *p = strtok_r(list, ":", &save); p && rc == 0; p = strtok_r(NULL, ":", &save)) {
        if (src->n == MAX_LAYERS) rc = sn_fail(e, "rootfs", E2BIG, "more than %d layers", MAX_LAYERS);
        else if (p[0] != '/') rc = sn_fail(e, "rootfs", EINVAL, "layer %s is not an absolute path", p);
        else if ((src->layers[src->n] = idmapped_clone(p, userns_fd, false, true, e)) < 0) rc = -1;
        else src->n++;
    }
    free(list);
    if (rc == 0 && src->n == 0) rc = sn_fail(e, "rootfs", EINVAL, "io.layercake.rootfs.layers is empty");
    if (rc == 0 && s->upper && (src->upper = idmapped_clone(s->upper, userns_fd, false, false, e)) < 0) rc = -1;
    if (rc < 0) close_sources(src);
    return rc;
}

/* In the container's mount namespace: stage the layers on a private tmpfs at root.path and
 * mount the overlay over it. Overlayfs before Linux 6.15 takes only layers attached in the
 * mounter's namespace, so they are attached here, where nobody on the host can see them;
 * relative layer names keep the option string short for a hundred layers. */
static int mount_overlay(const struct sn_spec *s, struct sources *src, struct sn_error *e)
{
    if (mount("tmpfs", s->rootfs, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=700,size=64k") < 0)
        return sn_fail(e, "rootfs", errno, "staging tmpfs at %s", s->rootfs);
    _cleanup_close_ int staging = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (staging < 0 || fchdir(staging) < 0) return sn_fail(e, "rootfs", errno, "entering the staging tmpfs");
    char opts[4096] = "lowerdir=";
    for (int i = 0; i < src->n; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        if (mkdir(name, 0700) < 0 || move_mount(src->layers[i], "", staging, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return sn_fail(e, "rootfs", errno, "staging layer %d", i);
        snprintf(opts + strlen(opts), sizeof opts - strlen(opts), "%s%s", i ? ":" : "", name);
    }
    if (src->upper >= 0) {
        if (mkdir("u", 0700) < 0 || move_mount(src->upper, "", staging, "u", MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return sn_fail(e, "rootfs", errno, "staging the writable layer");
        /* Layers must stay plain directories a tar can describe: no redirect or metacopy
         * xattrs, no index tied to this mount. */
        strncat(opts, ",upperdir=u/upper,workdir=u/work,redirect_dir=off,index=off,metacopy=off",
                sizeof opts - strlen(opts) - 1);
    }
    struct creds saved;
    int rc = become_mounter(spec_root_uid(s), spec_root_gid(s), &saved);
    if (rc == 0) rc = mount("overlay", s->rootfs, "overlay", MS_NODEV | MS_NOSUID, opts);
    int saved_errno = errno;
    restore_creds(&saved);
    if (rc < 0) return sn_fail(e, "rootfs", saved_errno, "mounting the overlay of %d layers", src->n);
    return 0;
}

/* The plain rootfs as the upper layer of an overlay (see clone_plain_parent), staged as the
 * layers are above. The directory must stay a plain directory: no redirect, index or
 * metacopy, and uuid=off keeps overlayfs from marking it with the overlay's identity; with
 * nothing below, it writes no whiteouts either. volatile: unmounting an overlay syncs the
 * upper's whole filesystem (the host's, for a bundle), so without it every stop waited for
 * all of the host's dirty data (0.6-1.4 s with 300 MB pending, against nothing for a bind
 * mount); the price is that fsync inside does not reach the disk (RUNC-DIFFERENCES.md).
 * 0 when mounted; -1 when the staging is undone and the caller should bind-mount instead;
 * -2 when it could not be undone. */
static int mount_plain_overlay(const struct sn_spec *s, struct sources *src)
{
    if (mount("tmpfs", s->rootfs, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=700,size=64k") < 0) {
        sn_log("note: %s is bind-mounted, so /proc/self/mountinfo shows its path: no staging tmpfs (%s)", s->rootfs, strerror(errno));
        return -1;
    }
    _cleanup_close_ int staging = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char opts[3 * NAME_MAX + 160];
    snprintf(opts, sizeof opts,
             "lowerdir=p/%s/lower,upperdir=p/%s,workdir=p/%s/work,redirect_dir=off,index=off,metacopy=off,uuid=off,volatile",
             src->aside, src->name, src->aside);
    int rc = staging < 0 || fchdir(staging) < 0 || mkdir("p", 0700) < 0 ||
                     move_mount(src->parent, "", staging, "p", MOVE_MOUNT_F_EMPTY_PATH) < 0
                 ? -1 : 0;
    struct creds saved;
    if (rc == 0 && (rc = become_mounter(spec_root_uid(s), spec_root_gid(s), &saved)) == 0) {
        rc = mount("overlay", s->rootfs, "overlay", MS_NODEV | MS_NOSUID, opts);
        int saved_errno = errno;
        restore_creds(&saved);
        errno = saved_errno;
    }
    /* overlayfs mounts read-only, rather than failing, when it cannot use its work dir. */
    struct statvfs sv;
    if (rc == 0 && statvfs(s->rootfs, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
        if (umount2(s->rootfs, MNT_DETACH) < 0) return -2;
        errno = EROFS;
        rc = -1;
    }
    if (rc < 0) {
        sn_log("note: %s is bind-mounted, so /proc/self/mountinfo shows its path: the overlay failed (%s)", s->rootfs,
               strerror(errno));
        if (chdir("/") < 0 || umount2(s->rootfs, MNT_DETACH) < 0) return -2;
    }
    return rc;
}

static int attach(int mount_fd, const char *at, struct sn_error *e)
{
    if (move_mount(mount_fd, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return sn_fail(e, "rootfs", errno, "attaching the root filesystem at %s", at);
    return 0;
}

int rootfs_build(const struct sn_spec *s, const char *id, pid_t pid, struct sn_error *e)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    _cleanup_close_ int userns_fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
    _cleanup_close_ int target = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int self = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (userns_fd < 0 || target < 0 || self < 0) return sn_fail(e, "rootfs", errno, "opening the container's namespaces");
    struct sources src;
    if (clone_sources(s, id, userns_fd, &src, e) < 0) return -1;
    /* The overlay's dir beside a plain rootfs is made; removed below if it is bind-mounted
     * after all, and by container_abort() if the start fails. */
    bool made_aside = src.parent >= 0, shown = made_aside;
    if (setns(target, CLONE_NEWNS) < 0) {
        close_sources(&src);
        return sn_fail(e, "rootfs", errno, "entering the container's mount namespace");
    }
    int rootfd = -1, rc;
    /* rslave first: nothing mounted in the container's namespace may propagate back to the
     * host, while host unmounts still reach it. pivot_root also refuses a shared parent. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) rc = sn_fail(e, "rootfs", errno, "making / rslave");
    else if (src.root >= 0) {
        rc = shown ? mount_plain_overlay(s, &src) : -1;
        if (rc == -2) rc = sn_fail(e, "rootfs", errno, "undoing the overlay staged at %s", s->rootfs);
        else if (rc == -1) {
            shown = false;
            rc = attach(src.root, s->rootfs, e);
        }
    }
    /* One read-only layer is its own mount: overlayfs wants two lower layers without an upper. */
    else if (src.n == 1 && src.upper < 0) rc = attach(src.layers[0], s->rootfs, e);
    else rc = mount_overlay(s, &src, e);
    if (rc == 0 && (rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        sn_fail(e, "rootfs", errno, "opening %s", s->rootfs);
    close_sources(&src);
    /* Back home: setns also reset our root and cwd, and every path we use is absolute. */
    if (setns(self, CLONE_NEWNS) < 0) {
        if (rootfd >= 0) close(rootfd);
        return sn_fail(e, "rootfs", errno, "returning to the launcher's mount namespace");
    }
    if (made_aside && !shown) rootfs_release(s->rootfs, id);
    return rootfd;
}
int rootfs_clone_binds(const struct sn_spec *s, pid_t pid, int *fds, int max, struct sn_error *e)
{
    int n = 0;
    _cleanup_close_ int userns_fd = -1;
    for (size_t i = 0; i < s->n_mounts; i++) {
        if (n == max) return sn_fail(e, "mounts", E2BIG, "too many mounts");
        fds[n] = -1;
        const struct sn_mount *m = &s->mounts[i];
        if (m->bind) {
            int fd = open_tree(AT_FDCWD, m->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m->recursive ? AT_RECURSIVE : 0));
            if (fd < 0) {
                while (n-- > 0) if (fds[n] >= 0) close(fds[n]);
                return sn_fail(e, "mounts", errno, "bind source %s", m->source);
            }
            struct mount_attr attr = {
                .attr_set = (m->flags & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0) | (m->flags & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0) |
                            (m->flags & MS_NODEV ? MOUNT_ATTR_NODEV : 0) | (m->flags & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0),
            };
            /* An idmapped bind shows its files' on-disk owners as the container's ids (uid 0 on
             * disk is the container's root), as the rootfs layers are: a directory several
             * containers use in turn (a build's cache mount) stays theirs whatever range each got. */
            if (m->idmap) {
                if (userns_fd < 0) {
                    char path[64];
                    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
                    userns_fd = open(path, O_RDONLY | O_CLOEXEC);
                }
                if (userns_fd < 0) {
                    int saved = errno;
                    close(fd);
                    while (n-- > 0) if (fds[n] >= 0) close(fds[n]);
                    return sn_fail(e, "mounts", saved, "opening the container's user namespace for %s", m->destination);
                }
                attr.attr_set |= MOUNT_ATTR_IDMAP;
                attr.userns_fd = (uint64_t)userns_fd;
            }
            if (attr.attr_set && mount_setattr(fd, "", AT_EMPTY_PATH | (m->recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
                int saved = errno;
                close(fd);
                while (n-- > 0) if (fds[n] >= 0) close(fds[n]);
                return sn_fail(e, "mounts", saved, "applying options to bind mount %s", m->destination);
            }
            fds[n] = fd;
        }
        n++;
    }
    return n;
}
