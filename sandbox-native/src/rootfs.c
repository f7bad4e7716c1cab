#include "rootfs.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#define MAX_LAYERS 128

/* A private copy of `path`'s mount whose owners are shifted by the container's mapping:
 * uid 0 on disk is the container's root, and what the container writes lands on disk with
 * its in-container owner. */
static int idmapped_clone(const char *path, int userns_fd, bool recursive, bool readonly, struct sn_error *e)
{
    int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (fd < 0) return sn_fail(e, "rootfs", errno, "cloning the mount of %s", path);
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | (readonly ? MOUNT_ATTR_RDONLY : 0),
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

static int overlay(const struct sn_spec *s, int userns_fd, struct sn_error *e)
{
    int layer_fds[MAX_LAYERS];
    int n = 0, upper_fd = -1, fsfd = -1, mfd = -1;
    char *list = strdup(s->layers);
    if (!list) return sn_fail(e, "rootfs", ENOMEM, "layers");
    for (char *save = NULL, *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        if (n == MAX_LAYERS) { sn_fail(e, "rootfs", E2BIG, "more than %d layers", MAX_LAYERS); goto out; }
        if (p[0] != '/') { sn_fail(e, "rootfs", EINVAL, "layer %s is not an absolute path", p); goto out; }
        layer_fds[n] = idmapped_clone(p, userns_fd, false, true, e);
        if (layer_fds[n] < 0) goto out;
        n++;
    }
    if (n == 0) { sn_fail(e, "rootfs", EINVAL, "io.layercake.rootfs.layers is empty"); goto out; }
    if (!s->upper && n == 1) {
        /* Overlayfs wants two lower layers when there is no upper: one read-only layer is
         * simply its own idmapped mount. */
        mfd = layer_fds[0];
        layer_fds[0] = -1;
        goto out;
    }
    if (s->upper && (upper_fd = idmapped_clone(s->upper, userns_fd, false, false, e)) < 0) goto out;

    struct creds saved;
    if (become_mounter(spec_root_uid(s), spec_root_gid(s), &saved) < 0) {
        sn_fail(e, "rootfs", errno, "switching to the container's root to mount the overlay");
        restore_creds(&saved);
        goto out;
    }
    fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0) { sn_fail(e, "rootfs", errno, "fsopen overlay"); restore_creds(&saved); goto out; }
    char path[64];
    /* Layers by descriptor path: no host path of a layer is ever visible or needs a mount. */
    bool plus = true;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", layer_fds[i]);
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", path, 0) < 0) { plus = false; break; }
    }
    if (!plus) {
        /* Kernels before 6.7 have no "lowerdir+": one string, limited to 256 bytes. */
        char joined[256] = "";
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/proc/self/fd/%d", i ? ":" : "", layer_fds[i]);
            if (strlen(joined) + strlen(path) >= sizeof joined) {
                sn_fail(e, "rootfs", E2BIG, "too many layers for this kernel's overlayfs (needs Linux 6.7 for more)");
                restore_creds(&saved);
                goto out;
            }
            strcat(joined, path);
        }
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir", joined, 0) < 0) {
            sn_fail(e, "rootfs", errno, "overlay lowerdir");
            restore_creds(&saved);
            goto out;
        }
    }
    int rc = 0;
    if (upper_fd >= 0) {
        char up[64], work[64];
        snprintf(up, sizeof up, "/proc/self/fd/%d/upper", upper_fd);
        snprintf(work, sizeof work, "/proc/self/fd/%d/work", upper_fd);
        rc = fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", up, 0);
        if (rc == 0) rc = fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0);
        /* Layers must be plain directories a tar can describe: no redirect or metacopy xattrs,
         * no index tied to this mount. */
        if (rc == 0) fsconfig(fsfd, FSCONFIG_SET_STRING, "redirect_dir", "off", 0);
        if (rc == 0) fsconfig(fsfd, FSCONFIG_SET_STRING, "index", "off", 0);
        if (rc == 0) fsconfig(fsfd, FSCONFIG_SET_STRING, "metacopy", "off", 0);
    }
    if (rc == 0) rc = fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    if (rc == 0) mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
    int saved_errno = errno;
    restore_creds(&saved);
    if (rc < 0 || mfd < 0) {
        char why[256] = "";
        ssize_t k = read(fsfd, why, sizeof why - 1);   /* the kernel's own message, if any */
        if (k > 0) why[k] = 0;
        sn_fail(e, "rootfs", saved_errno, "mounting the overlay%s%s", why[0] ? ": " : "", why);
        mfd = -1;
    }
out:
    for (int i = 0; i < n; i++)
        if (layer_fds[i] >= 0) close(layer_fds[i]);
    if (upper_fd >= 0) close(upper_fd);
    if (fsfd >= 0) close(fsfd);
    free(list);
    return mfd;
}

int rootfs_prepare(const struct sn_spec *s, pid_t userns_pid, struct sn_error *e)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)userns_pid);
    _cleanup_close_ int userns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (userns_fd < 0) return sn_fail(e, "rootfs", errno, "opening %s", path);
    if (s->layers) return overlay(s, userns_fd, e);
    return idmapped_clone(s->rootfs, userns_fd, true, false, e);
}

int rootfs_attach(const struct sn_spec *s, pid_t pid, int mount_fd, struct sn_error *e)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
    _cleanup_close_ int self = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int target = open(path, O_RDONLY | O_CLOEXEC);
    if (self < 0 || target < 0) return sn_fail(e, "rootfs", errno, "opening mount namespaces");
    if (setns(target, CLONE_NEWNS) < 0) return sn_fail(e, "rootfs", errno, "entering the container's mount namespace");
    int rootfd = -1;
    /* rslave first: nothing mounted in the container's namespace may propagate back to the
     * host, while host unmounts still reach it. pivot_root also refuses a shared parent. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        sn_fail(e, "rootfs", errno, "making / rslave");
    else if (move_mount(mount_fd, "", AT_FDCWD, s->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        sn_fail(e, "rootfs", errno, "attaching the root filesystem at %s", s->rootfs);
    else if ((rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        sn_fail(e, "rootfs", errno, "opening %s", s->rootfs);
    /* Back home: setns also reset our root and cwd, and every path we use is absolute. */
    if (setns(self, CLONE_NEWNS) < 0) {
        if (rootfd >= 0) close(rootfd);
        return sn_fail(e, "rootfs", errno, "returning to the launcher's mount namespace");
    }
    return rootfd;
}

int rootfs_clone_binds(const struct sn_spec *s, int *fds, int max, struct sn_error *e)
{
    int n = 0;
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
