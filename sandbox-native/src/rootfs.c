#include "rootfs.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
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
};

static void close_sources(struct sources *src)
{
    for (int i = 0; i < src->n; i++) close(src->layers[i]);
    if (src->upper >= 0) close(src->upper);
    if (src->root >= 0) close(src->root);
    src->n = 0;
    src->upper = src->root = -1;
}

static int clone_sources(const struct sn_spec *s, int userns_fd, struct sources *src, struct sn_error *e)
{
    src->n = 0;
    src->upper = src->root = -1;
    if (!s->layers) {
        src->root = idmapped_clone(s->rootfs, userns_fd, true, false, e);
        return src->root < 0 ? -1 : 0;
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

static int attach(int mount_fd, const char *at, struct sn_error *e)
{
    if (move_mount(mount_fd, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return sn_fail(e, "rootfs", errno, "attaching the root filesystem at %s", at);
    return 0;
}

int rootfs_build(const struct sn_spec *s, pid_t pid, struct sn_error *e)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    _cleanup_close_ int userns_fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
    _cleanup_close_ int target = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int self = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (userns_fd < 0 || target < 0 || self < 0) return sn_fail(e, "rootfs", errno, "opening the container's namespaces");
    struct sources src;
    if (clone_sources(s, userns_fd, &src, e) < 0) return -1;
    if (setns(target, CLONE_NEWNS) < 0) {
        close_sources(&src);
        return sn_fail(e, "rootfs", errno, "entering the container's mount namespace");
    }
    int rootfd = -1, rc;
    /* rslave first: nothing mounted in the container's namespace may propagate back to the
     * host, while host unmounts still reach it. pivot_root also refuses a shared parent. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) rc = sn_fail(e, "rootfs", errno, "making / rslave");
    else if (src.root >= 0) rc = attach(src.root, s->rootfs, e);
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
