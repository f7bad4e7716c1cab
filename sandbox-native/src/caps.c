#include "caps.h"

#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static const char *const names[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};
#define N_CAPS ((int)(sizeof names / sizeof names[0]))

#define BIT(c) (1ULL << (c))
/* Docker's default set without NET_RAW (raw sockets let a learner forge packets and are
 * rarely needed for teaching). MKNOD stays: a user namespace cannot create device nodes that
 * work anyway, and `mknod` of fifos is normal. */
const uint64_t caps_allowed =
    BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FOWNER) | BIT(CAP_FSETID) | BIT(CAP_KILL) |
    BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETPCAP) | BIT(CAP_NET_BIND_SERVICE) |
    BIT(CAP_SYS_CHROOT) | BIT(CAP_SETFCAP) | BIT(CAP_AUDIT_WRITE) | BIT(CAP_MKNOD);

int caps_from_name(const char *name)
{
    for (int i = 0; i < N_CAPS; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

const char *caps_name(int cap) { return cap >= 0 && cap < N_CAPS ? names[cap] : "?"; }

int caps_drop_bounding(uint64_t bounding, struct sn_error *e)
{
    for (int c = 0; c <= 63; c++) {
        if (bounding & BIT(c)) continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
            if (errno == EINVAL) break;   /* past the kernel's last capability */
            return sn_fail(e, "capabilities", errno, "dropping %s from the bounding set", caps_name(c));
        }
    }
    return 0;
}

int caps_set(uint64_t permitted, uint64_t effective, struct sn_error *e)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return sn_fail(e, "capabilities", errno, "clearing the ambient set");

    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (int i = 0; i < 2; i++) {
        data[i].permitted = (uint32_t)(permitted >> (32 * i));
        data[i].effective = (uint32_t)(effective >> (32 * i));
        data[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return sn_fail(e, "capabilities", errno, "capset");
    return 0;
}
