/* Inside the container's mount namespace: attach the rootfs, mount /proc, /dev, /sys and the
 * spec's mounts (every destination resolved inside the rootfs), pivot_root, detach the old
 * root, then mask and write-protect what Docker masks. */
#ifndef SN_MOUNT_H
#define SN_MOUNT_H

#include "spec.h"

int mount_container_fs(const struct sn_spec *s, int rootfs_mount_fd, struct sn_error *e);

#endif
