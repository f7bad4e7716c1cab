/*
 * probe — one attack per invocation, from inside a Layercake container.
 *
 *   probe [--hold] CASE [ARGS...]
 *
 * Prints exactly one JSON line on stdout, e.g.
 *   {"case":"syscall","name":"mount","ok":false,"errno":1,"error":"EPERM"}
 * and exits 0 (2 on a usage error, 3 when asked to attack from outside a container). With --hold it then waits (pause) until it is
 * killed, so the test can inspect the running container from the host.
 *
 * Built static (gcc -static -O2) so it runs in a rootfs holding nothing but busybox.
 * It never calls anything that needs NSS (getpwnam…): static glibc cannot load it.
 *
 * Where a case tries a syscall, its arguments are chosen so that the kernel, if the
 * call got past seccomp and capabilities, would answer with something other than
 * EPERM (EINVAL, EBADF, success…): EPERM then proves a refusal, not a typo.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/io_uring.h>
#include <mqueue.h>
#include <sys/inotify.h>
#include <linux/keyctl.h>
#include <linux/nsfs.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h> /* glibc 2.36: not together with <linux/mount.h> */
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- one JSON object, built field by field, written once ---------------- */

static char out[1 << 16];
static size_t outn;

static void emit(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + outn, sizeof out - outn, fmt, ap);
	va_end(ap);
	if (n > 0) outn = (outn + (size_t)n < sizeof out) ? outn + (size_t)n : sizeof out - 1;
}

static void emit_json_string(const char *s, size_t len) {
	emit("\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') emit("\\%c", c);
		else if (c == '\n') emit("\\n");
		else if (c == '\t') emit("\\t");
		else if (c < 0x20 || c >= 0x7f) emit("\\u%04x", c); /* bytes, not UTF-8: keep it lossless */
		else emit("%c", c);
	}
	emit("\"");
}

static void field_str(const char *key, const char *val) {
	emit(",\"%s\":", key);
	emit_json_string(val, strlen(val));
}
static void field_int(const char *key, long long val) { emit(",\"%s\":%lld", key, val); }
static void field_bool(const char *key, int val) { emit(",\"%s\":%s", key, val ? "true" : "false"); }

/* ok:false plus errno, or ok:true. */
static void field_result(long ret, int err) {
	field_bool("ok", ret >= 0);
	if (ret < 0) {
		field_int("errno", err);
		field_str("error", strerrorname_np(err) ? strerrorname_np(err) : "?");
	} else {
		field_int("ret", ret);
	}
}

static void flush_out(void) {
	emit("}\n");
	ssize_t off = 0;
	while (off < (ssize_t)outn) {
		ssize_t w = write(1, out + off, outn - off);
		if (w <= 0) break;
		off += w;
	}
}

/* ---- syscall attempts ------------------------------------------------------ */

/* Each attempt returns the raw result (-1 and errno on failure). */
typedef long (*attempt_fn)(void);

static long try_mount(void) { return mount("none", "/tmp", "tmpfs", 0, NULL); }
static long try_umount(void) { return umount2("/proc", MNT_DETACH); }
static long try_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long try_unshare_mnt(void) { return unshare(CLONE_NEWNS); }
static long try_unshare_net(void) { return unshare(CLONE_NEWNET); }
static long try_unshare_pid(void) { return unshare(CLONE_NEWPID); }
/* Joining our own user namespace is EINVAL for the kernel; EPERM means a filter. */
static long try_setns(void) {
	int fd = open("/proc/self/ns/user", O_RDONLY);
	if (fd < 0) return -1;
	long r = setns(fd, 0);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}
static long try_keyctl(void) { return syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0); }
static long try_add_key(void) {
	return syscall(SYS_add_key, "user", "layercake-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
}
static long try_request_key(void) {
	return syscall(SYS_request_key, "user", "layercake-probe", NULL, KEY_SPEC_PROCESS_KEYRING);
}
/* BPF_MAP_CREATE with a zeroed attribute: the kernel says EINVAL (or EPERM when
 * unprivileged bpf is disabled), a filter says EPERM. */
static long try_bpf(void) {
	char attr[128] = {0};
	return syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr);
}
static long try_kexec_load(void) { return syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL); }
static long try_kexec_file_load(void) { return syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0UL); }
static long try_init_module(void) { return syscall(SYS_init_module, NULL, 0UL, ""); }
static long try_finit_module(void) { return syscall(SYS_finit_module, -1, "", 0); }
static long try_delete_module(void) { return syscall(SYS_delete_module, "layercake_probe", O_NONBLOCK); }
static long try_io_uring_setup(void) {
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	long fd = syscall(SYS_io_uring_setup, 1, &p);
	if (fd >= 0) close((int)fd);
	return fd;
}
/* CAD_OFF only flips Ctrl-Alt-Del handling; even if it got through it changes nothing. */
static long try_reboot(void) {
	return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL);
}
/* Raw clone with a namespace flag: fork-like (no new stack), child exits at once. */
static long try_clone_flags(unsigned long flags) {
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0UL, NULL, NULL, 0UL);
	if (pid == 0) _exit(0);
	if (pid > 0) waitpid((pid_t)pid, NULL, 0);
	return pid;
}
static long try_clone_newuser(void) { return try_clone_flags(CLONE_NEWUSER); }
static long try_clone_newns(void) { return try_clone_flags(CLONE_NEWNS); }
static long try_clone_newnet(void) { return try_clone_flags(CLONE_NEWNET); }
static long try_clone_plain(void) { return try_clone_flags(0); }
/* clone3 must say ENOSYS so that libc falls back to clone, where flags can be checked. */
static long try_clone3(void) {
	struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } args;
	memset(&args, 0, sizeof args);
	args.exit_signal = SIGCHLD;
	long pid = syscall(SYS_clone3, &args, sizeof args);
	if (pid == 0) _exit(0);
	if (pid > 0) waitpid((pid_t)pid, NULL, 0);
	return pid;
}
static long try_perf_event_open(void) {
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0UL);
	if (fd >= 0) close((int)fd);
	return fd;
}
static long try_userfaultfd(void) {
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | 01 /* UFFD_USER_MODE_ONLY */);
	if (fd >= 0) close((int)fd);
	return fd;
}
/* A bad mount fd: the kernel says EBADF (or EPERM without CAP_DAC_READ_SEARCH). */
static long try_open_by_handle_at(void) {
	char buf[sizeof(struct file_handle) + 64] = {0};
	struct file_handle *h = (struct file_handle *)buf;
	h->handle_bytes = 8;
	return syscall(SYS_open_by_handle_at, -1, h, O_RDONLY);
}
static long try_syslog(void) { return klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0); }
static long try_fsopen(void) {
	long fd = syscall(SYS_fsopen, "tmpfs", 0);
	if (fd >= 0) close((int)fd);
	return fd;
}
static long try_fsconfig(void) { return syscall(SYS_fsconfig, -1, FSCONFIG_CMD_CREATE, NULL, NULL, 0); }
static long try_fsmount(void) { return syscall(SYS_fsmount, -1, 0, 0); }
static long try_fspick(void) {
	long fd = syscall(SYS_fspick, AT_FDCWD, "/tmp", 0);
	if (fd >= 0) close((int)fd);
	return fd;
}
static long try_open_tree(void) {
	long fd = syscall(SYS_open_tree, AT_FDCWD, "/tmp", OPEN_TREE_CLONE);
	if (fd >= 0) close((int)fd);
	return fd;
}
static long try_move_mount(void) { return syscall(SYS_move_mount, -1, "", AT_FDCWD, "/tmp", 0x4 /* F_EMPTY_PATH */); }
/* An invalid attr size: EINVAL for the kernel. */
static long try_mount_setattr(void) { return syscall(SYS_mount_setattr, AT_FDCWD, "/tmp", 0, NULL, 0); }
static long try_pivot_root(void) { return syscall(SYS_pivot_root, "/tmp", "/tmp"); }
static long try_swapon(void) { return syscall(SYS_swapon, "/layercake-probe-no-such-file", 0); }
static long try_swapoff(void) { return syscall(SYS_swapoff, "/layercake-probe-no-such-file"); }
static long try_acct(void) { return syscall(SYS_acct, "/layercake-probe-no-such-file"); }
/* Setting the clock to the time it already has: harmless even if it went through. */
static long try_settimeofday(void) {
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return settimeofday(&tv, NULL);
}
static long try_clock_settime(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return clock_settime(CLOCK_REALTIME, &ts);
}
/* A write through adjtimex (ADJ_TICK to its current value): needs CAP_SYS_TIME. */
static long try_adjtimex_set(void) {
	struct timex tx;
	memset(&tx, 0, sizeof tx);
	if (adjtimex(&tx) < 0) return -1;
	long tick = tx.tick;
	memset(&tx, 0, sizeof tx);
	tx.modes = ADJ_TICK;
	tx.tick = tick;
	return adjtimex(&tx);
}
static long try_adjtimex_read(void) {
	struct timex tx;
	memset(&tx, 0, sizeof tx);
	return adjtimex(&tx);
}
static long try_sethostname(void) { return sethostname("escaped", 7); }
static long try_setdomainname(void) { return setdomainname("escaped", 7); }
static long try_quotactl(void) { return syscall(SYS_quotactl, 0, NULL, 0, NULL); }
static long try_lookup_dcookie(void) { return syscall(SYS_lookup_dcookie, 0ULL, NULL, 0UL); }
static long try_iopl(void) { return syscall(SYS_iopl, 3); }
static long try_ioperm(void) { return syscall(SYS_ioperm, 0x80UL, 1UL, 1); }
static long try_vhangup(void) { return syscall(SYS_vhangup); }
/* Reading our own memory through process_vm_readv: ptrace's sibling, refused with it. */
static long try_process_vm_readv(void) {
	char src[8] = "probe", dst[8];
	struct iovec l = { dst, sizeof dst }, r = { src, sizeof src };
	return syscall(SYS_process_vm_readv, getpid(), &l, 1UL, &r, 1UL, 0UL);
}
static long try_kcmp(void) { return syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0UL, 0UL); }
static long try_pidfd_getfd(void) { return syscall(SYS_pidfd_getfd, -1, 0, 0); }
static long try_mbind(void) { return syscall(SYS_mbind, NULL, 0UL, 0, NULL, 0UL, 0U); }
static long try_personality_linux(void) { return personality(PER_LINUX); }
static long try_personality_bad(void) { return personality(0x0010 /* PER_BSD */); }
/* A mapped group, so only setgroups itself (not the gid) decides. */
static long try_setgroups(void) {
	gid_t g = getgid();
	return setgroups(1, &g);
}
/* A gid far outside any container's mapped range: the kernel must refuse it (EINVAL). */
static long try_setgroups_unmapped(void) {
	gid_t g = 4000000000u;
	return setgroups(1, &g);
}
static long try_socket_raw(void) {
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd >= 0) close(fd);
	return fd;
}
static long try_socket_packet(void) {
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd >= 0) close(fd);
	return fd;
}
static long try_socket_inet(void) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd >= 0) close(fd);
	return fd;
}
static long try_mknod_block(void) {
	unlink("/tmp/probe-sda");
	long r = mknod("/tmp/probe-sda", S_IFBLK | 0600, makedev(8, 0));
	int e = errno;
	unlink("/tmp/probe-sda");
	errno = e;
	return r;
}
static long try_mknod_mem(void) {
	unlink("/tmp/probe-mem");
	long r = mknod("/tmp/probe-mem", S_IFCHR | 0600, makedev(1, 1));
	int e = errno;
	unlink("/tmp/probe-mem");
	errno = e;
	return r;
}
static long try_chroot(void) { return chroot("/"); }

static const struct { const char *name; attempt_fn fn; } attempts[] = {
	{ "mount", try_mount },
	{ "umount", try_umount },
	{ "unshare-user", try_unshare_user },
	{ "unshare-mnt", try_unshare_mnt },
	{ "unshare-net", try_unshare_net },
	{ "unshare-pid", try_unshare_pid },
	{ "setns", try_setns },
	{ "keyctl", try_keyctl },
	{ "add_key", try_add_key },
	{ "request_key", try_request_key },
	{ "bpf", try_bpf },
	{ "kexec_load", try_kexec_load },
	{ "kexec_file_load", try_kexec_file_load },
	{ "init_module", try_init_module },
	{ "finit_module", try_finit_module },
	{ "delete_module", try_delete_module },
	{ "io_uring_setup", try_io_uring_setup },
	{ "reboot", try_reboot },
	{ "clone-newuser", try_clone_newuser },
	{ "clone-newns", try_clone_newns },
	{ "clone-newnet", try_clone_newnet },
	{ "clone-plain", try_clone_plain },
	{ "clone3", try_clone3 },
	{ "perf_event_open", try_perf_event_open },
	{ "userfaultfd", try_userfaultfd },
	{ "open_by_handle_at", try_open_by_handle_at },
	{ "syslog", try_syslog },
	{ "fsopen", try_fsopen },
	{ "fsconfig", try_fsconfig },
	{ "fsmount", try_fsmount },
	{ "fspick", try_fspick },
	{ "open_tree", try_open_tree },
	{ "move_mount", try_move_mount },
	{ "mount_setattr", try_mount_setattr },
	{ "pivot_root", try_pivot_root },
	{ "swapon", try_swapon },
	{ "swapoff", try_swapoff },
	{ "acct", try_acct },
	{ "settimeofday", try_settimeofday },
	{ "clock_settime", try_clock_settime },
	{ "adjtimex-set", try_adjtimex_set },
	{ "adjtimex-read", try_adjtimex_read },
	{ "sethostname", try_sethostname },
	{ "setdomainname", try_setdomainname },
	{ "quotactl", try_quotactl },
	{ "lookup_dcookie", try_lookup_dcookie },
	{ "iopl", try_iopl },
	{ "ioperm", try_ioperm },
	{ "vhangup", try_vhangup },
	{ "process_vm_readv", try_process_vm_readv },
	{ "kcmp", try_kcmp },
	{ "pidfd_getfd", try_pidfd_getfd },
	{ "mbind", try_mbind },
	{ "personality-linux", try_personality_linux },
	{ "personality-bad", try_personality_bad },
	{ "setgroups", try_setgroups },
	{ "setgroups-unmapped", try_setgroups_unmapped },
	{ "socket-raw", try_socket_raw },
	{ "socket-packet", try_socket_packet },
	{ "socket-inet", try_socket_inet },
	{ "mknod-block", try_mknod_block },
	{ "mknod-mem", try_mknod_mem },
	{ "chroot", try_chroot },
};

static int case_syscall(int argc, char **argv) {
	if (argc < 1) return 2;
	field_str("name", argv[0]);
	for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
		if (strcmp(attempts[i].name, argv[0]) == 0) {
			errno = 0;
			long r = attempts[i].fn();
			field_result(r, errno);
			return 0;
		}
	}
	return 2;
}

/* ---- files ----------------------------------------------------------------- */

/* read PATH [MAX]: bytes read (up to MAX, default 4096) and the data. */
static int case_read(int argc, char **argv) {
	if (argc < 1) return 2;
	size_t max = argc > 1 ? strtoul(argv[1], NULL, 10) : 4096;
	if (max > 30000) max = 30000;
	field_str("path", argv[0]);
	int fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0) { field_result(-1, errno); return 0; }
	static char buf[30001];
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, max - n);
		if (r < 0) { int e = errno; close(fd); field_result(-1, e); return 0; }
		if (r == 0 || (n += (size_t)r) >= max) break;
	}
	close(fd);
	field_result(0, 0);
	field_int("bytes", (long long)n);
	emit(",\"data\":");
	emit_json_string(buf, n);
	return 0;
}

/* write PATH DATA: open with O_TRUNC, so a read-only mount answers EROFS before any
 * permission check could answer EACCES. */
static int case_write(int argc, char **argv) {
	if (argc < 2) return 2;
	field_str("path", argv[0]);
	int fd = open(argv[0], O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) { field_result(-1, errno); return 0; }
	ssize_t w = write(fd, argv[1], strlen(argv[1]));
	int e = errno;
	close(fd);
	field_result(w, e);
	return 0;
}

/* mount-at FSTYPE TARGET [DATA]: a new mount of FSTYPE (e.g. a cgroup hierarchy). */
static int case_mount_at(int argc, char **argv) {
	if (argc < 2) return 2;
	field_str("path", argv[1]);
	long r = mount(argv[0], argv[1], argv[0], 0, argc > 2 ? argv[2] : NULL);
	field_result(r, errno);
	return 0;
}

/* remount-rw PATH: make a read-only mount writable again (a bind remount without MS_RDONLY). */
static int case_remount_rw(int argc, char **argv) {
	if (argc < 1) return 2;
	field_str("path", argv[0]);
	long r = mount(NULL, argv[0], NULL, MS_REMOUNT | MS_BIND, NULL);
	field_result(r, errno);
	return 0;
}

/* umount-at PATH: detach what is mounted there. */
static int case_umount_at(int argc, char **argv) {
	if (argc < 1) return 2;
	field_str("path", argv[0]);
	long r = umount2(argv[0], MNT_DETACH);
	field_result(r, errno);
	return 0;
}

/* create PATH: a new file (O_CREAT|O_EXCL). */
static int case_create(int argc, char **argv) {
	if (argc < 1) return 2;
	field_str("path", argv[0]);
	int fd = open(argv[0], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) { field_result(-1, errno); return 0; }
	ssize_t w = write(fd, "probe\n", 6);
	int e = errno;
	close(fd);
	field_result(w, e);
	return 0;
}

/* mkdir PATH */
static int case_mkdir(int argc, char **argv) {
	if (argc < 1) return 2;
	field_str("path", argv[0]);
	long r = mkdir(argv[0], 0755);
	field_result(r, errno);
	return 0;
}

static char type_char(mode_t m) {
	if (S_ISREG(m)) return 'f';
	if (S_ISDIR(m)) return 'd';
	if (S_ISLNK(m)) return 'l';
	if (S_ISCHR(m)) return 'c';
	if (S_ISBLK(m)) return 'b';
	if (S_ISFIFO(m)) return 'p';
	if (S_ISSOCK(m)) return 's';
	return '?';
}

/* stat PATH: lstat, so a symlink is reported as one. */
static int case_stat(int argc, char **argv) {
	if (argc < 1) return 2;
	field_str("path", argv[0]);
	struct stat st;
	if (lstat(argv[0], &st) < 0) { field_result(-1, errno); return 0; }
	field_result(0, 0);
	emit(",\"type\":\"%c\"", type_char(st.st_mode));
	field_int("mode", st.st_mode & 07777);
	field_int("uid", st.st_uid);
	field_int("gid", st.st_gid);
	field_int("size", st.st_size);
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		char rdev[32];
		snprintf(rdev, sizeof rdev, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
		field_str("rdev", rdev);
	}
	return 0;
}

/* One entry of a directory listing as a JSON object. */
static void emit_entry(int dirfd, const char *dirpath, const char *name, int *first) {
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return;
	emit("%s{\"name\":", *first ? "" : ",");
	*first = 0;
	char full[4096];
	snprintf(full, sizeof full, "%s%s%s", dirpath, strcmp(dirpath, "/") ? "/" : "", name);
	emit_json_string(full, strlen(full));
	emit(",\"type\":\"%c\"", type_char(st.st_mode));
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		emit(",\"rdev\":\"%u:%u\"", major(st.st_rdev), minor(st.st_rdev));
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
		if (n >= 0) {
			emit(",\"target\":");
			emit_json_string(target, (size_t)n);
		}
	}
	emit("}");
}

/* Walk a directory (not following symlinks, staying on no particular device). */
static void walk(const char *path, int depth, int *first) {
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) return;
	DIR *d = fdopendir(fd);
	if (!d) { close(fd); return; }
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
		emit_entry(fd, path, e->d_name, first);
		if (depth > 0 && e->d_type == DT_DIR) {
			char sub[4096];
			snprintf(sub, sizeof sub, "%s%s%s", path, strcmp(path, "/") ? "/" : "", e->d_name);
			walk(sub, depth - 1, first);
		}
	}
	closedir(d);
}

/* ls DIR [DEPTH]: entries with type, device numbers and link targets. */
static int case_ls(int argc, char **argv) {
	if (argc < 1) return 2;
	int depth = argc > 1 ? atoi(argv[1]) : 0;
	field_str("path", argv[0]);
	int fd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) { field_result(-1, errno); return 0; }
	close(fd);
	field_result(0, 0);
	emit(",\"entries\":[");
	int first = 1;
	walk(argv[0], depth, &first);
	emit("]");
	return 0;
}

/* fsize BYTES: write BYTES to /tmp/probe-fsize; report how far it got. SIGXFSZ is
 * ignored so that the limit shows as EFBIG instead of killing the probe. */
static int case_fsize(int argc, char **argv) {
	if (argc < 1) return 2;
	signal(SIGXFSZ, SIG_IGN);
	long long want = atoll(argv[0]), done = 0;
	int fd = open("/tmp/probe-fsize", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) { field_result(-1, errno); return 0; }
	static char chunk[65536];
	memset(chunk, 'x', sizeof chunk);
	int err = 0;
	while (done < want) {
		size_t n = (size_t)((want - done) < (long long)sizeof chunk ? want - done : (long long)sizeof chunk);
		ssize_t w = write(fd, chunk, n);
		if (w < 0) { err = errno; break; }
		done += w;
	}
	close(fd);
	unlink("/tmp/probe-fsize");
	field_result(err ? -1 : 0, err);
	field_int("written", done);
	return 0;
}

/* ---- process state --------------------------------------------------------- */

static int case_ids(int argc, char **argv) {
	(void)argc; (void)argv;
	uid_t r, e, s;
	gid_t gr, ge, gs;
	getresuid(&r, &e, &s);
	getresgid(&gr, &ge, &gs);
	field_result(0, 0);
	field_int("uid", r); field_int("euid", e); field_int("suid", s);
	field_int("gid", gr); field_int("egid", ge);
	field_int("pid", getpid());
	return 0;
}

/* status: the interesting lines of /proc/self/status, as strings. */
static int case_status(int argc, char **argv) {
	(void)argc; (void)argv;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f) { field_result(-1, errno); return 0; }
	field_result(0, 0);
	static const char *keys[] = { "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
		"CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters", NULL };
	char line[512];
	while (fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (!colon) continue;
		*colon = 0;
		for (int i = 0; keys[i]; i++) {
			if (strcmp(line, keys[i])) continue;
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t') v++;
			v[strcspn(v, "\n")] = 0;
			for (char *t = v; *t; t++) if (*t == '\t') *t = ' ';
			field_str(keys[i], v);
		}
	}
	fclose(f);
	return 0;
}

static void emit_limit(const char *name, int res) {
	struct rlimit rl;
	getrlimit(res, &rl);
	emit(",\"%s\":{\"soft\":%lld,\"hard\":%lld}", name,
		rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur,
		rl.rlim_max == RLIM_INFINITY ? -1LL : (long long)rl.rlim_max);
}

/* rlimits: -1 means unlimited. */
static int case_rlimits(int argc, char **argv) {
	(void)argc; (void)argv;
	field_result(0, 0);
	emit_limit("core", RLIMIT_CORE);
	emit_limit("nofile", RLIMIT_NOFILE);
	emit_limit("fsize", RLIMIT_FSIZE);
	emit_limit("nproc", RLIMIT_NPROC);
	return 0;
}

/* fds: every open descriptor with its target (the listing's own fd excluded). */
static int case_fds(int argc, char **argv) {
	(void)argc; (void)argv;
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) { field_result(-1, errno); return 0; }
	DIR *d = fdopendir(dfd);
	field_result(0, 0);
	emit(",\"fds\":[");
	int first = 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		int n = atoi(e->d_name);
		if (n == dfd) continue;
		char target[4096];
		ssize_t len = readlinkat(dfd, e->d_name, target, sizeof target - 1);
		if (len < 0) len = 0;
		emit("%s{\"fd\":%d,\"target\":", first ? "" : ",", n);
		emit_json_string(target, (size_t)len);
		emit("}");
		first = 0;
	}
	emit("]");
	closedir(d);
	return 0;
}

/* A field listing the names in directory `d` (none when it could not be opened), . and .. left out. */
static void field_names(const char *name, DIR *d) {
	emit(",\"%s\":[", name);
	struct dirent *e;
	int first = 1;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
		emit("%s", first ? "" : ",");
		emit_json_string(e->d_name, strlen(e->d_name));
		first = 0;
	}
	emit("]");
}

/* cwd: where the process stands. The raw syscall, because glibc hides the kernel's
 * "(unreachable)" prefix for a directory outside the root behind ENOENT. */
static int case_cwd(int argc, char **argv) {
	(void)argc; (void)argv;
	char buf[4096];
	long n = syscall(SYS_getcwd, buf, sizeof buf);
	if (n < 0) { field_result(-1, errno); return 0; }
	field_result(0, 0);
	field_str("cwd", buf);
	/* Inside the root the path must lead back to the very directory we stand in. */
	struct stat here, there;
	int same = stat(".", &here) == 0 && buf[0] == '/' && stat(buf, &there) == 0 &&
		here.st_dev == there.st_dev && here.st_ino == there.st_ino;
	field_bool("reachable", same);
	DIR *d = opendir(".");
	field_names("entries", d);
	if (d) closedir(d);
	return 0;
}

/* pids: every process visible in /proc. */
static int case_pids(int argc, char **argv) {
	(void)argc; (void)argv;
	DIR *d = opendir("/proc");
	if (!d) { field_result(-1, errno); return 0; }
	field_result(0, 0);
	emit(",\"pids\":[");
	int first = 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0) continue;
		emit("%s%ld", first ? "" : ",", pid);
		first = 0;
	}
	emit("]");
	closedir(d);
	field_int("self", getpid());
	return 0;
}

/* kill PID [SIG] */
static int case_kill(int argc, char **argv) {
	if (argc < 1) return 2;
	int sig = argc > 1 ? atoi(argv[1]) : 0;
	field_int("pid", atol(argv[0]));
	long r = kill((pid_t)atol(argv[0]), sig);
	field_result(r, errno);
	return 0;
}

/* ptrace: attach to another process of the container (our own child, same uid:
 * the kernel alone would allow it). */
static int case_ptrace(int argc, char **argv) {
	(void)argc; (void)argv;
	pid_t child = fork();
	if (child == 0) { for (;;) pause(); }
	if (child < 0) { field_result(-1, errno); return 0; }
	long r = ptrace(PTRACE_ATTACH, child, NULL, NULL);
	int e = errno;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	field_int("target", child);
	field_result(r, e);
	return 0;
}

/* suid-exec: as container root, make a setuid-root copy of ourselves in DIR
 * (default /tmp), drop to uid/gid 1000 and exec it with "ids". Without
 * no_new_privs the copy would run with euid 0. */
static int case_suid_exec(int argc, char **argv) {
	const char *dir = argc > 0 ? argv[0] : "/tmp";
	char copy[4096];
	snprintf(copy, sizeof copy, "%s/probe-suid", dir);
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	unlink(copy);
	int outfd = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in < 0 || outfd < 0) { field_str("step", "copy"); field_result(-1, errno); return 0; }
	static char buf[1 << 16];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(outfd, buf, (size_t)n) != n) break;
	close(in);
	close(outfd);
	if (chown(copy, 0, 0) < 0 || chmod(copy, 04755) < 0) {
		field_str("step", "chmod"); field_result(-1, errno); return 0;
	}
	if (setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0) {
		field_str("step", "setuid"); field_result(-1, errno); return 0;
	}
	/* The exec'd copy prints its own line, as case "ids". */
	execl(copy, copy, "ids", (char *)NULL);
	field_str("step", "exec");
	field_result(-1, errno);
	return 0;
}

/* chroot-escape: the classic escape from a chroot (keep a handle on the old root,
 * chroot into a subdirectory, climb with "..", chroot(".")) and list what "/" is then. */
static int case_chroot_escape(int argc, char **argv) {
	(void)argc; (void)argv;
	mkdir("/tmp/jail", 0755);
	int oldroot = open("/", O_RDONLY | O_DIRECTORY);
	if (oldroot < 0 || chroot("/tmp/jail") < 0) { field_str("step", "chroot"); field_result(-1, errno); return 0; }
	if (fchdir(oldroot) < 0) { field_str("step", "fchdir"); field_result(-1, errno); return 0; }
	for (int i = 0; i < 256; i++) if (chdir("..") < 0) break;
	if (chroot(".") < 0) { field_str("step", "chroot2"); field_result(-1, errno); return 0; }
	field_result(0, 0);
	DIR *d = opendir("/");
	field_names("entries", d);
	if (d) closedir(d);
	return 0;
}

/* ---- network ----------------------------------------------------------------- */

/* unix-abstract NAME: connect to an abstract unix socket (the host's, if visible). The
 * name is tried at its exact length and zero-padded to the whole sun_path, because
 * binders differ (Node pads, most C programs do not) and they are different names. */
static int case_unix_abstract(int argc, char **argv) {
	if (argc < 1) return 2;
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	size_t len = strlen(argv[0]);
	if (len > sizeof a.sun_path - 2) len = sizeof a.sun_path - 2;
	memcpy(a.sun_path + 1, argv[0], len); /* leading NUL: the abstract namespace */
	socklen_t lens[] = { (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len), (socklen_t)sizeof a };
	long r = -1;
	int e = 0;
	for (int i = 0; i < 2 && r != 0; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = connect(fd, (struct sockaddr *)&a, lens[i]);
		e = errno;
		close(fd);
	}
	field_result(r, e);
	return 0;
}

/* tcp IP PORT: connect with a 2 s timeout. */
static int case_tcp(int argc, char **argv) {
	if (argc < 2) return 2;
	field_str("ip", argv[0]);
	field_int("port", atoi(argv[1]));
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	inet_pton(AF_INET, argv[0], &a.sin_addr);
	long r = connect(fd, (struct sockaddr *)&a, sizeof a);
	field_result(r, errno);
	close(fd);
	return 0;
}

/* ifaces: every interface with its flags. */
static int case_ifaces(int argc, char **argv) {
	(void)argc; (void)argv;
	struct if_nameindex *list = if_nameindex();
	if (!list) { field_result(-1, errno); return 0; }
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	field_result(0, 0);
	emit(",\"ifaces\":[");
	for (struct if_nameindex *i = list; i->if_index; i++) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof ifr);
		snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", i->if_name);
		int up = ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
		emit("%s{\"name\":", i == list ? "" : ",");
		emit_json_string(i->if_name, strlen(i->if_name));
		emit(",\"up\":%s}", up ? "true" : "false");
	}
	emit("]");
	if_freenameindex(list);
	close(s);
	return 0;
}

/* uts: our names, then an attempt to change the hostname. */
static int case_uts(int argc, char **argv) {
	(void)argc; (void)argv;
	struct utsname u;
	uname(&u);
	field_str("nodename", u.nodename);
	long r = sethostname("escaped", 7);
	field_result(r, errno);
	uname(&u);
	field_str("after", u.nodename);
	return 0;
}

/* ---- SysV IPC (also run on the host to set up the bait) ------------------------ */

static int case_shm_get(int argc, char **argv) {
	if (argc < 1) return 2;
	long r = shmget((key_t)strtol(argv[0], NULL, 0), 0, 0);
	field_result(r, errno);
	return 0;
}
static int case_shm_create(int argc, char **argv) {
	if (argc < 1) return 2;
	long r = shmget((key_t)strtol(argv[0], NULL, 0), 4096, IPC_CREAT | IPC_EXCL | 0666);
	field_result(r, errno);
	return 0;
}
static int case_shm_remove(int argc, char **argv) {
	if (argc < 1) return 2;
	long id = shmget((key_t)strtol(argv[0], NULL, 0), 0, 0);
	long r = id < 0 ? id : shmctl((int)id, IPC_RMID, NULL);
	field_result(r, errno);
	return 0;
}

/* ---- resources ------------------------------------------------------------------ */

/* alloc MIB: allocate and touch MIB mebibytes. Printed only if we survive. */
static int case_alloc(int argc, char **argv) {
	if (argc < 1) return 2;
	long mib = atol(argv[0]);
	for (long i = 0; i < mib; i++) {
		char *p = malloc(1 << 20);
		if (!p) { field_int("mib", i); field_result(-1, ENOMEM); return 0; }
		memset(p, 0xa5, 1 << 20);
	}
	field_int("mib", mib);
	field_result(0, 0);
	return 0;
}

/* forkbomb MAX: fork sleeping children until fork fails or MAX is reached, then
 * reap them all. MAX keeps a broken pids limit from hurting the host. */
static int case_forkbomb(int argc, char **argv) {
	long max = argc > 0 ? atol(argv[0]) : 1000;
	static pid_t kids[100000];
	if (max > 100000) max = 100000;
	long n = 0;
	int err = 0;
	while (n < max) {
		pid_t p = fork();
		if (p == 0) { for (;;) pause(); }
		if (p < 0) { err = errno; break; }
		kids[n++] = p;
	}
	for (long i = 0; i < n; i++) kill(kids[i], SIGKILL);
	for (long i = 0; i < n; i++) waitpid(kids[i], NULL, 0);
	field_int("forked", n);
	field_result(err ? -1 : 0, err);
	return 0;
}

static double now_ms(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* spin MS: one thread busy for MS of wall-clock time; reports the CPU it got. */
static int case_spin(int argc, char **argv) {
	double ms = argc > 0 ? atof(argv[0]) : 1000;
	double start = now_ms(CLOCK_MONOTONIC);
	volatile unsigned long x = 0;
	while (now_ms(CLOCK_MONOTONIC) - start < ms) x++;
	field_result(0, 0);
	field_int("wallMs", (long long)(now_ms(CLOCK_MONOTONIC) - start));
	field_int("cpuMs", (long long)now_ms(CLOCK_PROCESS_CPUTIME_ID));
	return 0;
}

/* spawn-setsid: a child that leaves our session and process group and sleeps on,
 * the way a daemon escapes a shell's job control. */
static int case_spawn_setsid(int argc, char **argv) {
	(void)argc; (void)argv;
	pid_t p = fork();
	if (p == 0) {
		setsid();
		if (fork() == 0) { for (;;) pause(); } /* double fork: reparented to init */
		_exit(0);
	}
	waitpid(p, NULL, 0);
	field_result(p, errno);
	return 0;
}

/* sleep MS */
static int case_sleep(int argc, char **argv) {
	long ms = argc > 0 ? atol(argv[0]) : 1000;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	field_result(0, 0);
	return 0;
}

/* ---- per-user kernel counts (ucounts) ------------------------------------------- */
/* The kernel charges these to the user, up the user-namespace tree to each namespace's
 * owner. The *-fill cases take as much as they can (use --hold to keep it); the one-shot
 * cases ask for a little and are host-safe, to show whether the host still gets some. */

/* inotify-fill MAX: inotify instances until refused (EMFILE) or MAX. */
static int case_inotify_fill(int argc, char **argv) {
	long max = argc > 0 ? atol(argv[0]) : 100000;
	long n = 0;
	int err = 0;
	while (n < max) {
		if (inotify_init1(IN_CLOEXEC) < 0) { err = errno; break; }
		n++;
	}
	field_int("instances", n);
	field_result(err ? -1 : 0, err);
	return 0;
}

/* inotify-watches-fill INSTANCES FILES MAX: FILES empty files in /tmp/lc-watch, watched from
 * each of INSTANCES instances in turn, until a watch is refused (ENOSPC) or MAX. */
static int case_inotify_watches_fill(int argc, char **argv) {
	if (argc < 3) return 2;
	long ninst = atol(argv[0]), nfiles = atol(argv[1]), max = atol(argv[2]);
	mkdir("/tmp/lc-watch", 0755);
	char path[64];
	for (long f = 0; f < nfiles; f++) {
		snprintf(path, sizeof path, "/tmp/lc-watch/%ld", f);
		int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0) { field_str("step", "files"); field_result(-1, errno); return 0; }
		close(fd);
	}
	long watches = 0;
	int err = 0;
	for (long i = 0; i < ninst && !err && watches < max; i++) {
		int in = inotify_init1(IN_CLOEXEC);
		if (in < 0) { err = errno; field_str("step", "instance"); break; }
		for (long f = 0; f < nfiles && watches < max; f++) {
			snprintf(path, sizeof path, "/tmp/lc-watch/%ld", f);
			if (inotify_add_watch(in, path, IN_MODIFY) < 0) { err = errno; break; }
			watches++;
		}
	}
	field_int("watches", watches);
	field_result(err ? -1 : 0, err);
	return 0;
}

/* inotify: one instance and one watch (of /), as any program would want. */
static int case_inotify(int argc, char **argv) {
	(void)argc; (void)argv;
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0) { field_str("step", "instance"); field_result(-1, errno); return 0; }
	long w = inotify_add_watch(in, "/", IN_CREATE);
	if (w < 0) field_str("step", "watch");
	field_result(w, errno);
	close(in);
	return 0;
}

/* A queue of the ipc namespace's default size (10 messages of 8 KiB), about 80 KiB of the
 * owner's RLIMIT_MSGQUEUE. */
static mqd_t mq_make(const char *name) {
	struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 8192 };
	return mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
}

/* mqueue-fill MAX: queues until refused (EMFILE: the bytes are used up) or MAX. */
static int case_mqueue_fill(int argc, char **argv) {
	long max = argc > 0 ? atol(argv[0]) : 1000;
	long n = 0;
	int err = 0;
	char name[64];
	while (n < max) {
		snprintf(name, sizeof name, "/lc-probe-%d-%ld", (int)getpid(), n);
		if (mq_make(name) < 0) { err = errno; break; }
		n++;
	}
	field_int("queues", n);
	field_result(err ? -1 : 0, err);
	return 0;
}

/* mqueue: one queue, removed again. */
static int case_mqueue(int argc, char **argv) {
	(void)argc; (void)argv;
	char name[64];
	snprintf(name, sizeof name, "/lc-probe-one-%d", (int)getpid());
	mqd_t q = mq_make(name);
	int err = errno;
	if (q >= 0) { mq_close(q); mq_unlink(name); }
	field_result(q < 0 ? -1 : 0, err);
	return 0;
}

/* sigqueue-fill MAX: real-time signals queued to ourselves (blocked, so they stay pending)
 * until refused (EAGAIN: RLIMIT_SIGPENDING) or MAX. */
static int case_sigqueue_fill(int argc, char **argv) {
	long max = argc > 0 ? atol(argv[0]) : 1000000;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	long n = 0;
	int err = 0;
	union sigval v = { .sival_int = 1 };
	while (n < max) {
		if (sigqueue(getpid(), SIGRTMIN, v) < 0) { err = errno; break; }
		n++;
	}
	field_int("queued", n);
	field_result(err ? -1 : 0, err);
	return 0;
}

/* sigqueue: one real-time signal to ourselves, then taken back. */
static int case_sigqueue(int argc, char **argv) {
	(void)argc; (void)argv;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	union sigval v = { .sival_int = 1 };
	long r = sigqueue(getpid(), SIGRTMIN, v);
	int err = errno;
	if (r == 0) { struct timespec zero = { 0, 0 }; sigtimedwait(&set, NULL, &zero); }
	field_result(r, err);
	return 0;
}

/* memlock MIB: lock SysV shared memory (SHM_LOCK charges the locker's RLIMIT_MEMLOCK
 * count) one MiB segment at a time, up to MIB or until refused (ENOMEM). Segments live on
 * in the ipc namespace, which dies with the container. */
static int case_memlock(int argc, char **argv) {
	long max = argc > 0 ? atol(argv[0]) : 64;
	long n = 0;
	int err = 0;
	while (n < max) {
		int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
		if (id < 0) { err = errno; field_str("step", "shmget"); break; }
		if (shmctl(id, SHM_LOCK, NULL) < 0) { err = errno; shmctl(id, IPC_RMID, NULL); break; }
		n++;
	}
	field_int("lockedMib", n);
	field_result(err ? -1 : 0, err);
	return 0;
}

/* memlock-one: lock one MiB segment, then remove it. */
static int case_memlock_one(int argc, char **argv) {
	(void)argc; (void)argv;
	int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
	if (id < 0) { field_str("step", "shmget"); field_result(-1, errno); return 0; }
	long r = shmctl(id, SHM_LOCK, NULL);
	int err = errno;
	shmctl(id, IPC_RMID, NULL);
	field_result(r, err);
	return 0;
}

/* userns-owner: the owner of our user namespace (NS_GET_OWNER_UID), as our namespace sees
 * it: 0 if the container's own root owns it, the overflow uid (65534) if an unmapped host
 * uid such as host root does. */
static int case_userns_owner(int argc, char **argv) {
	(void)argc; (void)argv;
	int fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	uid_t owner = (uid_t)-1;
	long r = fd < 0 ? -1 : ioctl(fd, NS_GET_OWNER_UID, &owner);
	int err = errno;
	if (fd >= 0) close(fd);
	if (r == 0) field_int("owner", (long long)owner);
	field_result(r, err);
	return 0;
}

/* ---- table of contents -------------------------------------------------------- */

/* The probe makes real attempts (mount, sethostname, clock…): on the host they would
 * succeed. So every case that is not marked host-safe refuses to run unless we are
 * in a user namespace other than the initial one (whose uid_map is "0 0 4294967295"). */
static int in_initial_userns(void) {
	char buf[128] = {0};
	int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0; /* no /proc: certainly not a host shell */
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	unsigned long a, b, c;
	return n > 0 && sscanf(buf, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295UL;
}

static const struct { const char *name; int (*fn)(int, char **); int host_safe; } cases[] = {
	{ "syscall", case_syscall, 0 },
	{ "read", case_read, 1 },
	{ "write", case_write, 0 },
	{ "create", case_create, 0 },
	{ "mkdir", case_mkdir, 0 },
	{ "mount-at", case_mount_at, 0 },
	{ "remount-rw", case_remount_rw, 0 },
	{ "umount-at", case_umount_at, 0 },
	{ "stat", case_stat, 1 },
	{ "ls", case_ls, 1 },
	{ "fsize", case_fsize, 0 },
	{ "ids", case_ids, 1 },
	{ "status", case_status, 1 },
	{ "rlimits", case_rlimits, 1 },
	{ "fds", case_fds, 1 },
	{ "cwd", case_cwd, 1 },
	{ "pids", case_pids, 1 },
	{ "kill", case_kill, 0 },
	{ "ptrace", case_ptrace, 0 },
	{ "suid-exec", case_suid_exec, 0 },
	{ "chroot-escape", case_chroot_escape, 0 },
	{ "unix-abstract", case_unix_abstract, 1 },
	{ "tcp", case_tcp, 1 },
	{ "ifaces", case_ifaces, 1 },
	{ "uts", case_uts, 0 },
	{ "shm-get", case_shm_get, 1 },
	{ "shm-create", case_shm_create, 1 },
	{ "shm-remove", case_shm_remove, 1 },
	{ "alloc", case_alloc, 0 },
	{ "forkbomb", case_forkbomb, 0 },
	{ "spin", case_spin, 0 },
	{ "spawn-setsid", case_spawn_setsid, 0 },
	{ "sleep", case_sleep, 1 },
	{ "inotify-fill", case_inotify_fill, 0 },
	{ "inotify-watches-fill", case_inotify_watches_fill, 0 },
	{ "inotify", case_inotify, 1 },
	{ "mqueue-fill", case_mqueue_fill, 0 },
	{ "mqueue", case_mqueue, 1 },
	{ "sigqueue-fill", case_sigqueue_fill, 0 },
	{ "sigqueue", case_sigqueue, 1 },
	{ "memlock", case_memlock, 0 },
	{ "memlock-one", case_memlock_one, 1 },
	{ "userns-owner", case_userns_owner, 1 },
};

int main(int argc, char **argv) {
	int hold = 0;
	int i = 1;
	if (i < argc && strcmp(argv[i], "--hold") == 0) { hold = 1; i++; }
	if (i >= argc) {
		fprintf(stderr, "usage: probe [--hold] CASE [ARGS...]\n");
		return 2;
	}
	const char *name = argv[i];
	emit("{\"case\":");
	emit_json_string(name, strlen(name));
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		if (strcmp(cases[c].name, name)) continue;
		if (!cases[c].host_safe && in_initial_userns()) {
			fprintf(stderr, "probe: refusing to attack the host: %s only runs inside a container\n", name);
			return 3;
		}
		int rc = cases[c].fn(argc - i - 1, argv + i + 1);
		if (rc == 2) {
			fprintf(stderr, "probe: bad arguments for %s\n", name);
			return 2;
		}
		flush_out();
		if (hold) for (;;) pause();
		return rc;
	}
	fprintf(stderr, "probe: unknown case %s\n", name);
	return 2;
}
