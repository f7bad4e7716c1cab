/* The container's root filesystem, built by the parent (which still holds host privileges)
 * as a detached mount and handed to the child, which attaches it inside its own mount
 * namespace. Nothing is ever mounted in the host's namespace, so nothing can leak there. */
#ifndef SN_ROOTFS_H
#define SN_ROOTFS_H

#include <sys/types.h>
#include "spec.h"

/* Build the root filesystem inside the mount namespace of `pid` (a process already in the
 * container's user namespace, whose mapping idmaps every layer) and return an O_PATH
 * descriptor of it there. The parent does this, not the child: the child's root cannot
 * traverse host directories it does not own (a bundle under a 0700 directory). */
int rootfs_build(const struct sn_spec *s, const char *id, pid_t pid, struct sn_error *e);
/* Remove what rootfs_build made beside a plain rootfs for container `id` (the overlay's empty
 * lower layer and work dir), once the container is gone; nothing there is fine. */
int rootfs_release(const char *rootfs, const char *id);
/* Detached copies of the spec's bind-mount sources, in spec order, with their options
 * applied; fds[i] is -1 for mounts that are not binds. Returns how many fds were filled. */
int rootfs_clone_binds(const struct sn_spec *s, pid_t pid, int *fds, int max, struct sn_error *e);

#endif
