/* Inside the container's mount namespace, on the root the parent attached: mount /proc, /dev, /sys and the
 * spec's mounts (every destination resolved inside the rootfs), pivot_root, detach the old
 * root, then mask and write-protect what Docker masks. */
#ifndef SN_MOUNT_H
#define SN_MOUNT_H

#include "spec.h"

/* `rootfd`: the attached root (O_PATH). `bind_fds[i]`: detached copy of spec mount i's source
 * when it is a bind mount, else -1. */
int mount_container_fs(const struct sn_spec *s, int rootfd, const int *bind_fds, struct sn_error *e);

/* The directory `destination` names inside the root, symlinks followed inside it only, as a
 * path without symlinks (`out`), created if missing. */
int mount_resolve_dir(int rootfd, const char *destination, char out[4096], struct sn_error *e);

#endif
