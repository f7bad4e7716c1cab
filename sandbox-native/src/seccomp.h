/* Seccomp: compile the profile once with libseccomp, cache the BPF, load it last. */
#ifndef SN_SECCOMP_H
#define SN_SECCOMP_H

#include <json-c/json.h>
#include <linux/filter.h>
#include <stdbool.h>
#include "util.h"

struct sn_bpf {
    struct sock_filter *insns;
    unsigned short len;
    unsigned int flags;     /* seccomp(2) SECCOMP_FILTER_FLAG_* */
};

/* Produce the filter for `profile` (an OCI linux.seccomp object; NULL = built-in default),
 * from the cache in `cache_dir` when the same profile was compiled before. */
int seccomp_prepare(json_object *profile, const char *cache_dir, struct sn_bpf *out, bool *cache_hit,
                    struct sn_error *e);
/* Install the filter on the calling thread. no_new_privs must already be set. */
int seccomp_install(const struct sn_bpf *bpf, struct sn_error *e);
void seccomp_free(struct sn_bpf *bpf);

#endif
