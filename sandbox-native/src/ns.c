#include "ns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

pid_t ns_clone(void)
{
    /* The raw syscall with no stack behaves like fork(): the child continues here on a copy
     * of our memory. The launcher is single-threaded, so nothing is held mid-update. */
    return (pid_t)syscall(SYS_clone, SN_CLONE_NS | SIGCHLD, NULL, NULL, NULL, NULL);
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
