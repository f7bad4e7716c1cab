// The default seccomp profile: each syscall an escape or a host-wide change would start
// with is refused, while what ordinary programs need still works.

import { describe, expect, test } from 'vitest';
import { isNative, runtimes, useSandbox, type Sandbox } from './harness.js';

/** probe syscall NAME for each name, in one container; the lines by name. */
async function attempt(sb: Sandbox, names: string[], spec?: Parameters<Sandbox['bundle']>[0]['edit']): Promise<Map<string, { ok: boolean; error?: string }>> {
  const bundle = sb.bundle({ args: ['/bin/sh', '-c', names.map((n) => `/probe syscall ${n}`).join('; ')], edit: spec });
  const lines = (await sb.run(bundle)).lines;
  expect(lines.map((l) => l.name)).toEqual(names);
  return new Map(lines.map((l) => [String(l.name), l]));
}

// Each is refused with EPERM. The probe picks arguments for which the kernel itself would
// say something else (EINVAL, EBADF, ENOSYS, success), see probe.c.
const REFUSED = [
  'mount',
  'umount',
  'unshare-user',
  'unshare-mnt',
  'unshare-net',
  'setns',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'io_uring_setup',
  'reboot',
  'clone-newuser',
  'clone-newns',
  'clone-newnet',
  'perf_event_open',
  'userfaultfd',
  'open_by_handle_at',
  'syslog',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'open_tree',
  'move_mount',
  'mount_setattr',
  'pivot_root',
  'swapon',
  'swapoff',
  'acct',
  'settimeofday',
  'clock_settime',
  'adjtimex-set',
  'quotactl',
  'lookup_dcookie',
  'iopl',
  'ioperm',
  'vhangup',
  'process_vm_readv',
  'kcmp',
  'pidfd_getfd',
  'mbind',
  'personality-bad',
];

// Refused by the profile alone: with the profile removed, the kernel (here, in a user
// namespace without these capabilities) lets them through or answers otherwise. This is
// what makes the EPERM above evidence of the filter.
const REFUSED_ONLY_BY_PROFILE = ['unshare-user', 'setns', 'keyctl', 'add_key', 'clone-newuser', 'open_by_handle_at', 'process_vm_readv', 'kcmp', 'personality-bad'];

// What ordinary programs do must keep working.
const ALLOWED = ['clone-plain', 'socket-inet', 'personality-linux', 'adjtimex-read', 'chroot'];

describe.each(runtimes())('seccomp — $name', (rt) => {
  const sandbox = useSandbox(rt);

  test('the process runs under a seccomp filter', async () => {
    const line = await sandbox().probe(['status']);
    expect(line.Seccomp).toBe('2');
  });

  test.for(REFUSED)('%s is refused with EPERM', async (name) => {
    const line = await sandbox().probe(['syscall', name]);
    expect(line).toMatchObject({ name, ok: false, error: 'EPERM' });
  });

  test('clone3 answers ENOSYS, so libc falls back to clone whose flags can be checked', async () => {
    const line = await sandbox().probe(['syscall', 'clone3']);
    expect(line).toMatchObject({ ok: false, error: 'ENOSYS' });
  });

  test('ptrace of another process in the container is refused', async () => {
    const line = await sandbox().probe(['ptrace']);
    expect(line).toMatchObject({ ok: false, error: 'EPERM' });
  });

  test('ordinary calls still work: fork via clone, sockets, personality(PER_LINUX), reading the clock, chroot', async () => {
    const results = await attempt(sandbox(), ALLOWED);
    for (const name of ALLOWED) expect(results.get(name), name).toMatchObject({ ok: true });
  });

  if (isNative(rt)) {
    test('a spec without linux.seccomp still gets the built-in default profile', async () => {
      const sb = sandbox();
      const results = await attempt(sb, ['mount', 'unshare-user', 'keyctl', 'clone3'], (spec) => {
        delete spec.linux.seccomp;
      });
      expect(results.get('mount')).toMatchObject({ ok: false, error: 'EPERM' });
      expect(results.get('unshare-user')).toMatchObject({ ok: false, error: 'EPERM' });
      expect(results.get('keyctl')).toMatchObject({ ok: false, error: 'EPERM' });
      expect(results.get('clone3')).toMatchObject({ ok: false, error: 'ENOSYS' });
    });
  } else {
    test('control (runc): without the profile these calls are not refused with EPERM — the tests above can fail', async () => {
      const sb = sandbox();
      const results = await attempt(sb, REFUSED_ONLY_BY_PROFILE, (spec) => {
        delete spec.linux.seccomp;
      });
      for (const name of REFUSED_ONLY_BY_PROFILE) expect(results.get(name)?.error, name).not.toBe('EPERM');
      const ptrace = await sb.probe(['ptrace'], { edit: (spec) => void delete spec.linux.seccomp });
      expect(ptrace).toMatchObject({ ok: true });
    });
  }
});
