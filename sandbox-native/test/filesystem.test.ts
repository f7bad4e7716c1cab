// The container's filesystem: a rootfs the image cannot use to reach the host, a minimal
// /dev, /proc with its dangerous files masked or read-only, /sys read-only.

import { mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isNative, runtimes, useSandbox } from './harness.js';
import { hostHas, hostHasContent } from './host.js';
import { mountsUnder } from './leaks.js';
import { HOST_SCRATCH_DIR } from './paths.js';

// A host directory the tests aim symlinks at; it must come out of every test untouched.
let hostTarget: string;
beforeEach(() => {
  hostTarget = join(HOST_SCRATCH_DIR, `${process.pid}-fs-target`);
  rmSync(hostTarget, { recursive: true, force: true });
  mkdirSync(hostTarget, { recursive: true });
  writeFileSync(join(hostTarget, 'host-marker'), 'host\n');
});
afterEach(() => {
  rmSync(hostTarget, { recursive: true, force: true });
});

function expectHostTargetUntouched(): void {
  expect(mountsUnder(hostTarget)).toEqual([]);
  expect(readdirSync(hostTarget)).toEqual(['host-marker']);
  expect(readFileSync(join(hostTarget, 'host-marker'), 'utf8')).toBe('host\n');
}

/** Replace `path` inside the rootfs with a symlink to `target`. */
function plantSymlink(rootfs: string, path: string, target: string): void {
  const at = join(rootfs, path);
  try {
    rmdirSync(at);
  } catch {
    try {
      unlinkSync(at);
    } catch {
      // nothing there
    }
  }
  symlinkSync(target, at);
}

// Docker's masked paths, and how each reads when masked. Only checked where the host has
// something there to hide (this kernel may lack /proc/kcore or /proc/sched_debug).
const MASKED_FILES = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/interrupts', '/proc/latency_stats', '/proc/timer_stats'];
const MASKED_DIRS = ['/sys/firmware', '/proc/acpi', '/proc/scsi', '/proc/asound', '/sys/devices/virtual/powercap'];

describe.each(runtimes())('filesystem — $name', (rt) => {
  const sandbox = useSandbox(rt);

  describe('rootfs symlinks', () => {
    test('a rootfs whose /proc is a symlink to a host directory is refused', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/probe', 'ids'], rootfs: (r) => plantSymlink(r, 'proc', hostTarget) });
      const r = await sb.run(bundle);
      expect(r.code).not.toBe(0);
      expect(r.lines).toEqual([]);
      expectHostTargetUntouched();
    });

    test('a rootfs whose /dev is a symlink to a host directory is refused', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/probe', 'ids'], rootfs: (r) => plantSymlink(r, 'dev', hostTarget) });
      const r = await sb.run(bundle);
      expect(r.code).not.toBe(0);
      expect(r.lines).toEqual([]);
      expectHostTargetUntouched();
    });

    const devNullAttack = (r: string) => {
      mkdirSync(join(r, 'dev'), { recursive: true });
      symlinkSync(join(hostTarget, 'host-marker'), join(r, 'dev/null'));
    };
    if (isNative(rt)) {
      test('a rootfs whose /dev/null is a symlink to a host file is refused', async () => {
        const sb = sandbox();
        const bundle = sb.bundle({ args: ['/bin/sh', '-c', 'echo pwned > /dev/null; /probe stat /dev/null'], rootfs: devNullAttack });
        const r = await sb.run(bundle);
        expect(r.code).not.toBe(0);
        expect(r.lines).toEqual([]);
        expectHostTargetUntouched();
      });
    } else {
      test('runc: a /dev/null symlink in the rootfs is hidden under the fresh /dev (runs, harmlessly)', async () => {
        const sb = sandbox();
        const bundle = sb.bundle({ args: ['/bin/sh', '-c', 'echo pwned > /dev/null; /probe stat /dev/null'], rootfs: devNullAttack });
        expect((await sb.run(bundle)).probe()).toMatchObject({ ok: true, type: 'c', rdev: '1:3' });
        expectHostTargetUntouched();
      });
    }

    test('a mount destination that is a symlink to a host path is resolved inside the rootfs', async () => {
      const sb = sandbox();
      const source = join(HOST_SCRATCH_DIR, `${process.pid}-fs-source`);
      rmSync(source, { recursive: true, force: true });
      mkdirSync(source, { recursive: true });
      writeFileSync(join(source, 'from-source'), 'x');
      try {
        const bundle = sb.bundle({
          args: ['/bin/sh', '-c', `/probe ls /escape; /probe ls ${hostTarget}`],
          rootfs: (r) => {
            symlinkSync(hostTarget, join(r, 'escape'));
            // Where the link leads when resolved inside the root, with a marker of its own.
            mkdirSync(join(r, hostTarget), { recursive: true });
            writeFileSync(join(r, hostTarget, 'inside-marker'), 'inside\n');
          },
          spec: {
            mounts: [
              { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] },
              { destination: '/escape', type: 'bind', source, options: ['rbind', 'ro'] },
            ],
          },
        });
        const r = await sb.run(bundle);
        expect(r.lines, r.stderr).toHaveLength(2);
        const [viaLink, resolved] = r.lines;
        // Inside, the link and the path it names show the bind mount: it landed in the root.
        expect(viaLink?.entries).toEqual([{ name: '/escape/from-source', type: 'f' }]);
        expect(resolved?.entries).toEqual([{ name: `${hostTarget}/from-source`, type: 'f' }]);
        expectHostTargetUntouched();
      } finally {
        rmSync(source, { recursive: true, force: true });
      }
    });
  });

  describe('/dev', () => {
    test('/dev holds exactly the minimal set of nodes and links', async () => {
      const line = await sandbox().probe(['ls', '/dev']);
      const names = (line.entries as { name: string }[]).map((e) => e.name.replace('/dev/', '')).sort();
      expect(names).toEqual(
        ['fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'].sort(),
      );
    });

    test('every device node in /dev is one of the allowed character devices; no block device exists', async () => {
      const line = await sandbox().probe(['ls', '/dev', '3']);
      const entries = line.entries as { name: string; type: string; rdev?: string }[];
      const devices = entries.filter((e) => e.type === 'c' || e.type === 'b');
      expect(devices.length).toBeGreaterThanOrEqual(7);
      for (const d of devices) {
        expect(d.type, d.name).toBe('c');
        expect(['1:3', '1:5', '1:7', '1:8', '1:9', '5:0', '5:2'].includes(d.rdev!) || d.rdev!.startsWith('136:'), `${d.name} ${d.rdev}`).toBe(true);
      }
    });

    test('/dev/mem, /dev/kmsg and the host’s disks are absent', async () => {
      const sb = sandbox();
      const disk = readdirSync('/dev').find((n) => /^(vd|sd|nvme|xvd)[a-z0-9]+$/.test(n));
      const paths = ['/dev/mem', '/dev/kmsg', '/dev/port', ...(disk ? [`/dev/${disk}`] : [])];
      const bundle = sb.bundle({ args: ['/bin/sh', '-c', paths.map((p) => `/probe stat ${p}`).join('; ')] });
      const lines = (await sb.run(bundle)).lines;
      expect(lines).toHaveLength(paths.length);
      for (const l of lines) expect(l, String(l.path)).toMatchObject({ ok: false, error: 'ENOENT' });
    });
  });

  describe('masked paths', () => {
    test.for(MASKED_FILES)('%s reads empty', async (path, ctx) => {
      ctx.skip(!hostHasContent(path), `${path} is absent or empty on this host: nothing to hide`);
      const line = await sandbox().probe(['read', path, '4096']);
      expect(line).toMatchObject({ ok: true, bytes: 0 });
    });

    test.for(MASKED_DIRS)('%s lists empty', async (path, ctx) => {
      ctx.skip(!hostHasContent(path), `${path} is absent or empty on this host: nothing to hide`);
      const line = await sandbox().probe(['ls', path]);
      expect(line).toMatchObject({ ok: true, entries: [] });
    });
  });

  describe('read-only paths', () => {
    // O_TRUNC makes the kernel check the mount before permissions: without the read-only
    // mount the answer would be EACCES (the file belongs to host root), not EROFS.
    test('/proc/sys/kernel/core_pattern cannot be written (EROFS)', async () => {
      const line = await sandbox().probe(['write', '/proc/sys/kernel/core_pattern', '|/tmp/pwn']);
      expect(line).toMatchObject({ ok: false, error: 'EROFS' });
    });

    test('/proc/sysrq-trigger cannot be written (EROFS)', async (ctx) => {
      ctx.skip(!hostHas('/proc/sysrq-trigger'), 'this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ off)');
      const line = await sandbox().probe(['write', '/proc/sysrq-trigger', 'h']);
      expect(line).toMatchObject({ ok: false, error: 'EROFS' });
    });

    test('/proc/irq/default_smp_affinity cannot be written (EROFS)', async (ctx) => {
      ctx.skip(!hostHas('/proc/irq/default_smp_affinity'), 'this kernel has no /proc/irq/default_smp_affinity');
      const line = await sandbox().probe(['write', '/proc/irq/default_smp_affinity', '1']);
      expect(line).toMatchObject({ ok: false, error: 'EROFS' });
    });

    test('/sys is read-only: no directory can be made, no attribute written', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/bin/sh', '-c', '/probe mkdir /sys/fs/escape; /probe write /sys/class/net/lo/mtu 1280'] });
      const [mkdir, write] = (await sb.run(bundle)).lines;
      expect(mkdir).toMatchObject({ ok: false, error: 'EROFS' });
      expect(write).toMatchObject({ ok: false, error: 'EROFS' });
    });

    test('root.readonly makes the rootfs read-only (EROFS), and without it the answer differs', async () => {
      const sb = sandbox();
      const readOnly = await sb.probe(['create', '/made-by-container'], { spec: { readonlyRootfs: true } });
      expect(readOnly).toMatchObject({ ok: false, error: 'EROFS' });
      const writable = await sb.probe(['create', '/made-by-container'], { spec: { readonlyRootfs: false } });
      expect(writable.error).not.toBe('EROFS');
    });
  });
});
