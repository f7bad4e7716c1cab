#include "ns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

pid_t ns_clone(uid_t owner)
{
    /* The kernel charges per-user counts (inotify instances and watches, mqueue bytes,
     * pending signals, locked memory) up the user-namespace tree to the namespace's owner,
     * the creator's euid. Created by host root, every container would share root's counts
     * with the host and with each other; created with euid `owner` (the container's own
     * root), each container draws on its own. Only the euid changes: real and saved uids
     * stay 0, so root comes back right after, and uid_map is still ours to write (we hold
     * CAP_SETUID in the parent namespace). */
    if (owner == 0 || owner == (uid_t)-1) {
        errno = EINVAL;
        return -1;
    }
    if (setresuid((uid_t)-1, owner, (uid_t)-1) < 0) return -1;
    /* The raw syscall with no stack behaves like fork(): the child continues here on a copy
     * of our memory. The launcher is single-threaded, so nothing is held mid-update. */
    pid_t pid = (pid_t)syscall(SYS_clone, SN_CLONE_NS | SIGCHLD, NULL, NULL, NULL, NULL);
    int saved = errno;
    /* An euid change leaves a process undumpable; the child was dumpable before this. */
    if (pid == 0) {
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        return 0;
    }
    if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0) {
        /* Cannot happen with saved uid 0; never go on as anything but root. */
        if (pid > 0) kill(pid, SIGKILL);
        return -1;
    }
    errno = saved;
    return pid;
}

int ns_loopback_up(struct sn_error *e)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return sn_fail(e, "network", errno, "socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "lo");
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    if (rc < 0) return sn_fail(e, "network", saved, "bringing up lo");
    return 0;
}

void ns_allow_ping(uint32_t gid_count)
{
    char buf[64];
    snprintf(buf, sizeof buf, "0 %u", gid_count ? gid_count - 1 : 0);
    /* net sysctls are per network namespace: this writes ours. Best effort. */
    sn_write_file("/proc/sys/net/ipv4/ping_group_range", buf);
}
