/* Namespaces: creating them for a new container, joining them for exec, and the one piece
 * of network setup a container gets (loopback). */
#ifndef SN_NS_H
#define SN_NS_H

#include <sys/types.h>
#include "util.h"

/* Every namespace but cgroup, which the child unshares itself once the parent has moved it
 * into its cgroup (so the namespace is rooted there). */
#define SN_CLONE_NS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)
#define SN_JOIN_NS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)

/* fork() into new namespaces, the user namespace owned by host uid `owner` (never 0):
 * returns 0 in the child, its pid in the parent. */
pid_t ns_clone(uid_t owner);
int ns_loopback_up(struct sn_error *e);
/* Let every container group use unprivileged ICMP sockets, so `ping` works without NET_RAW. */
void ns_allow_ping(uint32_t gid_count);

#endif
