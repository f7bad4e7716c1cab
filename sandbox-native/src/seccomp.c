#include "seccomp.h"

#include <ctype.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* The default profile, embedded from profiles/seccomp.json by default_profile.S. */
extern const char sn_default_seccomp_profile[];

#define CACHE_MAGIC "SNBPF1\n"

static uint64_t fnv1a(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ULL; }
    return h;
}

static int parse_action(const char *name, json_object *errno_ret, uint32_t default_errno, uint32_t *out)
{
    uint32_t eno = errno_ret ? (uint32_t)json_object_get_int(errno_ret) : default_errno;
    if (!name) return -1;
    if (strcmp(name, "SCMP_ACT_ALLOW") == 0) *out = SCMP_ACT_ALLOW;
    else if (strcmp(name, "SCMP_ACT_ERRNO") == 0) *out = SCMP_ACT_ERRNO(eno);
    else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0) *out = SCMP_ACT_KILL_THREAD;
    else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0) *out = SCMP_ACT_KILL_PROCESS;
    else if (strcmp(name, "SCMP_ACT_TRAP") == 0) *out = SCMP_ACT_TRAP;
    else if (strcmp(name, "SCMP_ACT_TRACE") == 0) *out = SCMP_ACT_TRACE(eno);
    else if (strcmp(name, "SCMP_ACT_LOG") == 0) *out = SCMP_ACT_LOG;
    else return -1;
    return 0;
}

static int parse_op(const char *op, enum scmp_compare *out)
{
    static const struct { const char *name; enum scmp_compare op; } ops[] = {
        { "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT }, { "SCMP_CMP_LE", SCMP_CMP_LE },
        { "SCMP_CMP_EQ", SCMP_CMP_EQ }, { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
        { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
    };
    for (size_t i = 0; op && i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i].name) == 0) { *out = ops[i].op; return 0; }
    return -1;
}

static json_object *field(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static int add_rules(scmp_filter_ctx ctx, json_object *sc, uint32_t default_errno, struct sn_error *e)
{
    json_object *names = field(sc, "names");
    const char *action_name = json_object_get_string(field(sc, "action"));
    uint32_t action;
    if (parse_action(action_name, field(sc, "errnoRet"), default_errno, &action) < 0)
        return sn_fail(e, "seccomp", 0, "unknown action %s", action_name ? action_name : "(none)");
    json_object *args = field(sc, "args");
    size_t nargs = args ? json_object_array_length(args) : 0;
    if (nargs > 6) return sn_fail(e, "seccomp", 0, "a rule has more than 6 argument conditions");
    struct scmp_arg_cmp cmps[6];
    bool same_index = false;
    for (size_t i = 0; i < nargs; i++) {
        json_object *a = json_object_array_get_idx(args, i);
        enum scmp_compare op;
        if (parse_op(json_object_get_string(field(a, "op")), &op) < 0)
            return sn_fail(e, "seccomp", 0, "unknown comparison %s", json_object_get_string(field(a, "op")));
        cmps[i] = (struct scmp_arg_cmp){ (unsigned)json_object_get_int(field(a, "index")), op,
                                         (scmp_datum_t)json_object_get_uint64(field(a, "value")),
                                         (scmp_datum_t)json_object_get_uint64(field(a, "valueTwo")) };
        for (size_t k = 0; k < i; k++)
            if (cmps[k].arg == cmps[i].arg) same_index = true;
    }
    for (size_t i = 0; names && i < json_object_array_length(names); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(names, i));
        int nr = name ? seccomp_syscall_resolve_name(name) : __NR_SCMP_ERROR;
        /* A name this libseccomp does not know cannot be called here either: skip, as runc does. */
        if (nr == __NR_SCMP_ERROR) continue;
        int rc;
        if (same_index) {
            /* libseccomp cannot AND two conditions on one argument; like runc, treat them as
             * alternatives (one rule each). */
            rc = 0;
            for (size_t k = 0; k < nargs && rc == 0; k++) rc = seccomp_rule_add_array(ctx, action, nr, 1, &cmps[k]);
        } else {
            rc = seccomp_rule_add_array(ctx, action, nr, (unsigned)nargs, cmps);
        }
        /* -EEXIST: the action equals the default (nothing to add). */
        if (rc < 0 && rc != -EEXIST)
            return sn_fail(e, "seccomp", -rc, "adding a rule for %s", name);
    }
    return 0;
}

static int compile(json_object *p, struct sn_bpf *out, struct sn_error *e)
{
    uint32_t default_errno = EPERM;
    if (field(p, "defaultErrnoRet")) default_errno = (uint32_t)json_object_get_int(field(p, "defaultErrnoRet"));
    uint32_t def;
    if (parse_action(json_object_get_string(field(p, "defaultAction")), field(p, "defaultErrnoRet"), EPERM, &def) < 0)
        return sn_fail(e, "seccomp", 0, "defaultAction is missing or unknown");
    scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx) return sn_fail(e, "seccomp", ENOMEM, "seccomp_init");
    int rc = -1;
    /* Binary-tree dispatch keeps the per-syscall cost low for a long allow-list. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    json_object *arches = field(p, "architectures");
    for (size_t i = 0; arches && i < json_object_array_length(arches); i++) {
        const char *a = json_object_get_string(json_object_array_get_idx(arches, i));
        char lower[32];
        snprintf(lower, sizeof lower, "%s", a && strncmp(a, "SCMP_ARCH_", 10) == 0 ? a + 10 : (a ? a : ""));
        for (char *c = lower; *c; c++) *c = (char)tolower((unsigned char)*c);
        uint32_t arch = seccomp_arch_resolve_name(lower);
        if (!arch) { sn_fail(e, "seccomp", 0, "unknown architecture %s", a ? a : "?"); goto out; }
        int r = seccomp_arch_add(ctx, arch);
        if (r < 0 && r != -EEXIST) { sn_fail(e, "seccomp", -r, "adding architecture %s", a); goto out; }
    }
    json_object *flags = field(p, "flags");
    out->flags = 0;
    for (size_t i = 0; flags && i < json_object_array_length(flags); i++) {
        const char *f = json_object_get_string(json_object_array_get_idx(flags, i));
        if (!f) continue;
        if (strcmp(f, "SECCOMP_FILTER_FLAG_LOG") == 0) out->flags |= SECCOMP_FILTER_FLAG_LOG;
        else if (strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0) out->flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        else if (strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC") == 0) out->flags |= SECCOMP_FILTER_FLAG_TSYNC;
        else { sn_fail(e, "seccomp", 0, "unknown flag %s", f); goto out; }
    }
    json_object *syscalls = field(p, "syscalls");
    for (size_t i = 0; syscalls && i < json_object_array_length(syscalls); i++)
        if (add_rules(ctx, json_object_array_get_idx(syscalls, i), default_errno, e) < 0) goto out;

    /* libseccomp 2.5 exports to an fd only: go through a memfd. */
    int mfd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (mfd < 0) { sn_fail(e, "seccomp", errno, "memfd_create"); goto out; }
    int r = seccomp_export_bpf(ctx, mfd);
    if (r < 0) { close(mfd); sn_fail(e, "seccomp", -r, "exporting the filter"); goto out; }
    lseek(mfd, 0, SEEK_SET);
    size_t len;
    char *bytes = sn_read_all(mfd, &len, 1u << 20);
    close(mfd);
    if (!bytes || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        free(bytes);
        sn_fail(e, "seccomp", EINVAL, "the compiled filter is malformed or too long");
        goto out;
    }
    out->insns = (struct sock_filter *)bytes;
    out->len = (unsigned short)(len / sizeof(struct sock_filter));
    rc = 0;
out:
    seccomp_release(ctx);
    return rc;
}

static int cache_read(const char *path, const char *key, size_t key_len, struct sn_bpf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    size_t len;
    char *buf = sn_read_all(fd, &len, 4u << 20);
    close(fd);
    if (!buf) return -1;
    size_t hdr = sizeof CACHE_MAGIC - 1;
    uint32_t flags, klen, n;
    int rc = -1;
    if (len < hdr + 12 || memcmp(buf, CACHE_MAGIC, hdr) != 0) goto out;
    memcpy(&flags, buf + hdr, 4);
    memcpy(&klen, buf + hdr + 4, 4);
    /* The key is stored whole and compared, so a hash collision can never load a wrong filter. */
    if (klen != key_len || len < hdr + 8 + klen + 4 || memcmp(buf + hdr + 8, key, klen) != 0) goto out;
    memcpy(&n, buf + hdr + 8 + klen, 4);
    size_t off = hdr + 12 + klen;
    if (n == 0 || n > BPF_MAXINSNS || len != off + n * sizeof(struct sock_filter)) goto out;
    out->insns = malloc(n * sizeof(struct sock_filter));
    if (!out->insns) goto out;
    memcpy(out->insns, buf + off, n * sizeof(struct sock_filter));
    out->len = (unsigned short)n;
    out->flags = flags;
    rc = 0;
out:
    free(buf);
    return rc;
}

static void cache_write(const char *dir, const char *path, const char *key, size_t key_len, const struct sn_bpf *b)
{
    if (sn_mkdir_p(dir, 0700) < 0) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return;
    uint32_t klen = (uint32_t)key_len, n = b->len, flags = b->flags;
    int ok = sn_write_all(fd, CACHE_MAGIC, sizeof CACHE_MAGIC - 1) == 0 && sn_write_all(fd, &flags, 4) == 0 &&
             sn_write_all(fd, &klen, 4) == 0 && sn_write_all(fd, key, key_len) == 0 &&
             sn_write_all(fd, &n, 4) == 0 && sn_write_all(fd, b->insns, n * sizeof(struct sock_filter)) == 0;
    close(fd);
    /* rename() makes the entry appear whole, so concurrent launchers never read half a file. */
    if (!ok || rename(tmp, path) < 0) unlink(tmp);
}

int seccomp_prepare(json_object *profile, const char *cache_dir, struct sn_bpf *out, bool *cache_hit,
                    struct sn_error *e)
{
    memset(out, 0, sizeof *out);
    *cache_hit = false;
    const char *key = profile ? json_object_to_json_string_ext(profile, JSON_C_TO_STRING_PLAIN)
                              : sn_default_seccomp_profile;
    size_t key_len = strlen(key);
    const struct scmp_version *v = seccomp_version();
    char salt[64];
    snprintf(salt, sizeof salt, "libseccomp %u.%u.%u", v->major, v->minor, v->micro);
    uint64_t h = fnv1a(salt, strlen(salt), fnv1a(key, key_len, 0xcbf29ce484222325ULL));
    char path[4096];
    snprintf(path, sizeof path, "%s/%016llx.bpf", cache_dir, (unsigned long long)h);
    if (cache_read(path, key, key_len, out) == 0) {
        *cache_hit = true;
        return 0;
    }
    json_object *parsed = NULL;
    if (!profile) {
        parsed = json_tokener_parse(sn_default_seccomp_profile);
        if (!parsed) return sn_fail(e, "seccomp", 0, "the built-in default profile is not valid JSON");
        profile = parsed;
    }
    int rc = compile(profile, out, e);
    if (rc == 0) cache_write(cache_dir, path, key, key_len, out);
    if (parsed) json_object_put(parsed);
    return rc;
}

int seccomp_install(const struct sn_bpf *bpf, struct sn_error *e)
{
    struct sock_fprog prog = { .len = bpf->len, .filter = bpf->insns };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, bpf->flags, &prog) < 0)
        return sn_fail(e, "seccomp", errno, "loading the filter");
    return 0;
}

void seccomp_free(struct sn_bpf *bpf)
{
    free(bpf->insns);
    bpf->insns = NULL;
}
