#include "devfilter.h"
#include "trace.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The devices a container may use whatever its spec says: the nodes its /dev holds. */
const struct sn_device_rule devfilter_floor[] = {
    { true, 'c', 1, 3, "rwm" },   /* null */
    { true, 'c', 1, 5, "rwm" },   /* zero */
    { true, 'c', 1, 7, "rwm" },   /* full */
    { true, 'c', 1, 8, "rwm" },   /* random */
    { true, 'c', 1, 9, "rwm" },   /* urandom */
    { true, 'c', 5, 0, "rwm" },   /* tty */
    { true, 'c', 5, 2, "rwm" },   /* ptmx */
    { true, 'c', 136, -1, "rwm" },/* pts/N */
};
const int devfilter_floor_n = sizeof devfilter_floor / sizeof devfilter_floor[0];

/* The program is straight-line code: one block per rule, each falling through to the next
 * when its device does not match. Registers after the prologue: r2 device type, r3 access
 * wanted, r4 major, r5 minor (struct bpf_cgroup_dev_ctx). */
#define MAX_INSNS 1024
struct prog { struct bpf_insn insn[MAX_INSNS]; int n; bool overflow; };

static void emit(struct prog *p, struct bpf_insn i)
{
    if (p->n < MAX_INSNS) p->insn[p->n++] = i;
    else p->overflow = true;
}

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define MOV_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define AND_IMM(d, i) INSN(BPF_ALU64 | BPF_AND | BPF_K, d, 0, 0, i)
#define RSH_IMM(d, i) INSN(BPF_ALU64 | BPF_RSH | BPF_K, d, 0, 0, i)
#define JNE_IMM(d, i, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JNE_REG(d, s, o) INSN(BPF_JMP | BPF_JNE | BPF_X, d, s, o, 0)
#define JA(o) INSN(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Offsets to be patched: to the end of the current block, or to the spec's rules. */
#define TO_NEXT_RULE ((short)-32768)
#define TO_SPEC_RULES ((short)-32767)

static int access_bits(const char *a)
{
    int bits = 0;
    for (; *a; a++)
        bits |= *a == 'm' ? BPF_DEVCG_ACC_MKNOD : *a == 'r' ? BPF_DEVCG_ACC_READ : *a == 'w' ? BPF_DEVCG_ACC_WRITE : 0;
    return bits;
}

/* One rule: if the device and access match, the rule's verdict (or, for the floor, a jump to
 * the spec's rules). Returns true if the rule matches everything: nothing after it can run,
 * and the verifier refuses unreachable code. */
static bool emit_rule(struct prog *p, const struct sn_device_rule *r, bool jump_to_spec)
{
    int start = p->n;
    if (r->type != 'a') emit(p, JNE_IMM(2, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, TO_NEXT_RULE));
    if (r->type != 'a' && r->major >= 0) emit(p, JNE_IMM(4, (int)r->major, TO_NEXT_RULE));
    if (r->type != 'a' && r->minor >= 0) emit(p, JNE_IMM(5, (int)r->minor, TO_NEXT_RULE));
    int acc = access_bits(r->access);
    if (acc != (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)) {
        /* Every access asked for must be one the rule names. */
        emit(p, MOV_REG(1, 3));
        emit(p, AND_IMM(1, acc));
        emit(p, JNE_REG(1, 3, TO_NEXT_RULE));
    }
    if (jump_to_spec) {
        emit(p, JA(TO_SPEC_RULES));
    } else {
        emit(p, MOV_IMM(0, r->allow ? 1 : 0));
        emit(p, EXIT());
    }
    bool unconditional = true;
    for (int i = start; i < p->n; i++)
        if (p->insn[i].off == TO_NEXT_RULE) {
            p->insn[i].off = (short)(p->n - i - 1);
            unconditional = false;
        }
    return unconditional;
}

static void build(struct prog *p, const struct sn_resources *res)
{
    p->n = 0;
    p->overflow = false;
    emit(p, LDX_W(2, 1, 0));   /* access_type: access << 16 | type */
    emit(p, MOV_REG(3, 2));
    emit(p, RSH_IMM(3, 16));
    emit(p, AND_IMM(2, 0xffff));
    emit(p, LDX_W(4, 1, 4));   /* major */
    emit(p, LDX_W(5, 1, 8));   /* minor */
    /* The floor: a device outside it is refused, whatever the spec allows. */
    for (size_t i = 0; i < sizeof devfilter_floor / sizeof devfilter_floor[0]; i++) emit_rule(p, &devfilter_floor[i], true);
    emit(p, MOV_IMM(0, 0));
    emit(p, EXIT());
    int spec_rules = p->n;
    /* The spec's rules, the last matching one deciding (as runc and the v1 lists do); with
     * none, the floor alone decides. */
    bool decided = false;
    for (int i = res->n_devices - 1; i >= 0 && !decided; i--) decided = emit_rule(p, &res->devices[i], false);
    if (!decided) {
        emit(p, MOV_IMM(0, res->n_devices ? 0 : 1));
        emit(p, EXIT());
    }
    for (int i = 0; i < spec_rules; i++)
        if (p->insn[i].off == TO_SPEC_RULES) p->insn[i].off = (short)(spec_rules - i - 1);
}

int devfilter_attach(const char *cgroup_dir, const struct sn_resources *res, struct sn_error *e)
{
    static struct prog p;
    double t = sn_now_ms();
    build(&p, res);
    if (p.overflow) return sn_fail(e, "devices", E2BIG, "the device rules make too long a program");

    char log[4096] = "";
    union bpf_attr load;
    memset(&load, 0, sizeof load);
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = (uint64_t)(uintptr_t)p.insn;
    load.insn_cnt = (uint32_t)p.n;
    load.license = (uint64_t)(uintptr_t)"GPL";
    _cleanup_close_ int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
    if (prog < 0) {
        /* Again with the verifier's log, which costs time, only to say why. */
        int saved = errno;
        load.log_buf = (uint64_t)(uintptr_t)log;
        load.log_size = sizeof log;
        load.log_level = 1;
        syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
        return sn_fail(e, "devices", saved, "loading the device filter: %.200s", log);
    }
    t = trace_step("devices_load", t);

    _cleanup_close_ int dir = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return sn_fail(e, "devices", errno, "opening %s", cgroup_dir);
    union bpf_attr attach;
    memset(&attach, 0, sizeof attach);
    attach.target_fd = (uint32_t)dir;
    attach.attach_bpf_fd = (uint32_t)prog;
    attach.attach_type = BPF_CGROUP_DEVICE;
    /* ALLOW_MULTI: programs above us (systemd's) still run; every one must allow. */
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach) < 0)
        return sn_fail(e, "devices", errno, "attaching the device filter to %s", cgroup_dir);
    /* The attachment holds the program for as long as the cgroup lives. */
    trace_step("devices_attach", t);
    return 0;
}
