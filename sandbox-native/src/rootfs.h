/* The container's root filesystem, built by the parent (which still holds host privileges)
 * as a detached mount and handed to the child, which attaches it inside its own mount
 * namespace. Nothing is ever mounted in the host's namespace, so nothing can leak there. */
#ifndef SN_ROOTFS_H
#define SN_ROOTFS_H

#include <sys/types.h>
#include "spec.h"

/* Returns a mount fd (open_tree/fsmount style). `userns_pid` is a process already in the
 * container's user namespace: its mapping is the idmap applied to every layer. */
int rootfs_prepare(const struct sn_spec *s, pid_t userns_pid, struct sn_error *e);

#endif
