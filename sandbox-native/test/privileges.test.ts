// What the container's processes hold: a short capability list, no way to gain more
// (no_new_privs), resource limits, no inherited descriptors, a working directory inside
// the root.

import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CONTAINER_CAPABILITIES, type ExtraMount } from '../../worker/src/runtime/oci-spec.js';
import { isNative, runtimes, useSandbox } from './harness.js';
import { capabilityMask } from './host.js';
import { HOST_SCRATCH_DIR } from './paths.js';

const MiB = 1024 * 1024;
// A tmpfs without nosuid, so that a setuid bit there would take effect but for no_new_privs.
const SUID_MOUNT: ExtraMount = { destination: '/suid', type: 'tmpfs', source: 'tmpfs', options: ['nodev', 'mode=755'] };
const TMP_MOUNT: ExtraMount = { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] };

/** An open descriptor to a host directory, as a careless parent might leak it. */
function hostDirFd(): { fd: number; close: () => void } {
  const dir = join(HOST_SCRATCH_DIR, `${process.pid}-leaked-dir`);
  mkdirSync(dir, { recursive: true });
  const fd = openSync(dir, 'r');
  return {
    fd,
    close: () => {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.each(runtimes())('privileges — $name', (rt) => {
  const sandbox = useSandbox(rt);

  describe('capabilities', () => {
    test('bounding, effective and permitted sets are exactly the short list; inheritable and ambient are empty', async () => {
      const line = await sandbox().probe(['status']);
      const expected = capabilityMask(CONTAINER_CAPABILITIES);
      expect(line).toMatchObject({ CapBnd: expected, CapEff: expected, CapPrm: expected, CapInh: '0000000000000000', CapAmb: '0000000000000000' });
    });

    test('a non-root process user holds no capabilities', async () => {
      const line = await sandbox().probe(['status'], { spec: { user: { uid: 1000, gid: 1000 } } });
      expect(line).toMatchObject({ Uid: '1000 1000 1000 1000', CapEff: '0000000000000000', CapPrm: '0000000000000000' });
      expect(line.CapBnd).toBe(capabilityMask(CONTAINER_CAPABILITIES));
    });

    test('creating a block device node, or /dev/mem’s, is refused', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/bin/sh', '-c', '/probe syscall mknod-block; /probe syscall mknod-mem'] });
      const [block, mem] = (await sb.run(bundle)).lines;
      expect(block).toMatchObject({ ok: false, error: 'EPERM' });
      expect(mem).toMatchObject({ ok: false, error: 'EPERM' });
    });

    test('raw and packet sockets are refused (no NET_RAW)', async () => {
      expect(CONTAINER_CAPABILITIES).not.toContain('CAP_NET_RAW');
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/bin/sh', '-c', '/probe syscall socket-raw; /probe syscall socket-packet'] });
      const [raw, packet] = (await sb.run(bundle)).lines;
      expect(raw).toMatchObject({ ok: false, error: 'EPERM' });
      expect(packet).toMatchObject({ ok: false, error: 'EPERM' });
    });

    test('the clock cannot be set', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/bin/sh', '-c', '/probe syscall settimeofday; /probe syscall clock_settime; /probe syscall adjtimex-set'] });
      const lines = (await sb.run(bundle)).lines;
      expect(lines).toHaveLength(3);
      for (const l of lines) expect(l, String(l.name)).toMatchObject({ ok: false, error: 'EPERM' });
    });
  });

  describe('no_new_privs', () => {
    test('no_new_privs is set', async () => {
      expect((await sandbox().probe(['status'])).NoNewPrivs).toBe('1');
    });

    test('a setuid-root binary run by uid 1000 does not gain euid 0', async () => {
      const line = await sandbox().probe(['suid-exec', '/suid'], { spec: { mounts: [TMP_MOUNT, SUID_MOUNT] } });
      expect(line).toMatchObject({ case: 'ids', uid: 1000, euid: 1000 });
    });

    if (!isNative(rt)) {
      test('control (runc): with noNewPrivileges off the same binary does run as euid 0 — the test above can fail', async () => {
        const line = await sandbox().probe(['suid-exec', '/suid'], {
          spec: { mounts: [TMP_MOUNT, SUID_MOUNT] },
          edit: (spec) => {
            spec.process.noNewPrivileges = false;
          },
        });
        expect(line).toMatchObject({ case: 'ids', uid: 1000, euid: 0 });
      });
    }
  });

  describe('rlimits', () => {
    test('core dumps are off and NOFILE is what the spec says', async () => {
      const line = await sandbox().probe(['rlimits'], { spec: { rlimits: { NOFILE: { soft: 256, hard: 512 } } } });
      expect(line).toMatchObject({ core: { soft: 0, hard: 0 }, nofile: { soft: 256, hard: 512 } });
    });

    test('writing past RLIMIT_FSIZE fails with EFBIG at the limit', async () => {
      const line = await sandbox().probe(['fsize', String(2 * MiB)], { spec: { rlimits: { FSIZE: { soft: MiB, hard: MiB } } } });
      expect(line).toMatchObject({ ok: false, error: 'EFBIG', written: MiB });
    });
  });

  describe('descriptors and working directory', () => {
    test('only fds 0-2 are open at exec, though the launcher was started with a descriptor to a host directory', async () => {
      const sb = sandbox();
      const leaked = hostDirFd();
      try {
        const bundle = sb.bundle({ args: ['/probe', 'fds'] });
        const r = await sb.run(bundle, { extraFds: [leaked.fd] });
        const fds = (r.probe().fds as { fd: number }[]).map((f) => f.fd);
        expect(fds).toEqual([0, 1, 2]);
      } finally {
        leaked.close();
      }
    });

    // CVE-2024-21626: a working directory of /proc/self/fd/N, where N is a descriptor the
    // runtime leaked into the container, starts the process in a host directory.
    test('cwd /proc/self/fd/N is refused or stays inside the root, for every N', async () => {
      const sb = sandbox();
      const leaked = hostDirFd();
      try {
        for (let n = 3; n <= 12; n++) {
          const bundle = sb.bundle({ args: ['/probe', 'cwd'], spec: { cwd: `/proc/self/fd/${n}` } });
          const r = await sb.run(bundle, { extraFds: [leaked.fd] });
          if (r.lines.length === 0) {
            expect(r.code, `fd ${n}: no probe line but exit 0`).not.toBe(0);
            continue;
          }
          const line = r.probe();
          expect(String(line.cwd), `fd ${n}`).not.toMatch(/^\(unreachable\)/);
          expect(line.reachable, `fd ${n}: cwd ${String(line.cwd)}`).toBe(true);
        }
      } finally {
        leaked.close();
      }
    });
  });
});
