// pid, mount, uts, ipc, cgroup and network namespaces: what the host has, the container
// can neither see nor reach.

import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isNative, runtimes, useSandbox } from './harness.js';
import { hostProbe, hostSleeper, isAlive } from './host.js';
import { HOST_SCRATCH_DIR, ROOTFS_MARKER, rootfsTemplate, TEST_ROOT } from './paths.js';

/** A host TCP or abstract-unix listener that records whether anyone connected. */
async function hostListener(listenArg: { port: number; host: string } | { path: string }): Promise<{ server: Server; connections: () => number; port: number }> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenArg, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { server, connections: () => count, port };
}

/** The server counts a connection on its next turn of the event loop. */
async function waitForConnections(listener: { connections: () => number }, n: number): Promise<void> {
  for (let i = 0; i < 50 && listener.connections() < n; i++) await new Promise((r) => setTimeout(r, 20));
  expect(listener.connections()).toBe(n);
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe.each(runtimes())('namespaces — $name', (rt) => {
  const sandbox = useSandbox(rt);

  describe('pid', () => {
    test('the container sees only its own processes, itself as pid 1', async () => {
      const line = await sandbox().probe(['pids']);
      expect(line.pids).toEqual([1]);
      expect(line.self).toBe(1);
    });

    test('a host process cannot be signalled from inside, even by its host pid', async () => {
      const sleeper = hostSleeper();
      try {
        const pid = sleeper.pid!;
        // Container pids are small; a host pid this large cannot collide with one.
        expect(pid).toBeGreaterThan(100);
        const line = await sandbox().probe(['kill', String(pid), '9']);
        expect(line).toMatchObject({ ok: false, error: 'ESRCH' });
        expect(isAlive(pid)).toBe(true);
      } finally {
        sleeper.kill('SIGKILL');
      }
    });
  });

  describe('mount', () => {
    test('mountinfo shows only the container’s own mounts: no host mount point, no host path as source', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/probe', 'read', '/proc/self/mountinfo', '30000'] });
      const text = String((await sb.run(bundle)).probe().data);
      const mounts = text.trim().split('\n').map((line) => {
        const fields = line.split(' ');
        const dash = fields.indexOf('-');
        return { line, root: fields[3]!, mountPoint: fields[4]!, source: fields[dash + 2]! };
      });
      const allowedPoints = /^\/(|proc(\/.*)?|dev(\/.*)?|sys(\/.*)?|tmp)$/;
      for (const m of mounts) {
        expect(m.mountPoint, m.line).toMatch(allowedPoints);
        expect(m.mountPoint, m.line).not.toContain(TEST_ROOT);
        expect(m.source, m.line).not.toContain(bundle.dir);
      }
      // The root field of a mount names the directory within its filesystem; for a plain
      // directory rootfs that is the rootfs path itself, so it may appear there — on the
      // "/" line only. No other line may name the bundle.
      for (const m of mounts.filter((x) => x.mountPoint !== '/')) expect(m.line).not.toContain(bundle.dir);
      expect(mounts.filter((m) => m.mountPoint === '/')).toHaveLength(1);
      // One mount per path, as Docker shows it (the spec's masked paths repeat the defaults).
      const points = mounts.map((m) => m.mountPoint);
      expect(points.filter((p, i) => points.indexOf(p) !== i)).toEqual([]);
    });

    // Why a plain rootfs stays a bind mount (README, "What it enforces"): shown as the upper
    // layer of an overlay it would hide its path, but a file the host adds while the container
    // runs would never appear inside (overlayfs keeps the negative dentry), which is how the
    // cgroup v2 guest and many tutorials hand a running container a file.
    test('a file the host adds to a plain rootfs while the container runs appears inside', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/bin/sh', '-c', 'i=0; while [ ! -e /handed-in ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; /probe read /handed-in'] });
      const running = sb.start(bundle);
      running.child.stdin?.end();
      await new Promise((r) => setTimeout(r, 500)); // it has looked for the file, and not found it, by now
      writeFileSync(join(bundle.rootfs, 'handed-in'), 'from the host\n');
      const line = JSON.parse((await running.exited).stdout.trim().split('\n').pop()!) as { data?: string };
      expect(line.data).toBe('from the host\n');
    });

    // The product's rootfs: an overlay of image layers (which live in the image store, not
    // in the bundle). Then no line of mountinfo may name the bundle at all.
    test.runIf(isNative(rt))('with a layered rootfs, no mountinfo line names the bundle, and writes land in the upper dir', async () => {
      const sb = sandbox();
      const layers = join(HOST_SCRATCH_DIR, `${process.pid}-layers`);
      rmSync(layers, { recursive: true, force: true });
      try {
        cpSync(rootfsTemplate(), join(layers, 'base'), { recursive: true, verbatimSymlinks: true });
        mkdirSync(join(layers, 'top/etc'), { recursive: true });
        writeFileSync(join(layers, 'top/etc/motd'), 'from the top layer\n');
        mkdirSync(join(layers, 'rw/upper'), { recursive: true });
        mkdirSync(join(layers, 'rw/work'), { recursive: true });
        const bundle = sb.bundle({
          args: ['/bin/sh', '-c', '/probe read /etc/motd; /probe create /written-in-container; /probe read /proc/self/mountinfo 30000'],
          rootfs: (r) => {
            rmSync(r, { recursive: true });
            mkdirSync(r);
          },
          spec: { layers: [join(layers, 'top'), join(layers, 'base')], upperDir: join(layers, 'rw') },
        });
        const [motd, created, mountinfo] = (await sb.run(bundle)).lines;
        expect(motd?.data).toBe('from the top layer\n');
        expect(created).toMatchObject({ ok: true });
        expect(String(mountinfo?.data)).not.toContain(bundle.dir);
        expect(existsSync(join(layers, 'rw/upper/written-in-container'))).toBe(true);
        expect(existsSync(join(layers, 'base/written-in-container'))).toBe(false);
        expect(readFileSync(join(layers, 'rw/upper/written-in-container'), 'utf8')).toBe('probe\n');
      } finally {
        rmSync(layers, { recursive: true, force: true });
      }
    });

    test('the chroot escape (chroot into a subdirectory, climb with "..") ends in the container’s root', async () => {
      const line = await sandbox().probe(['chroot-escape']);
      expect(line.ok).toBe(true);
      const entries = line.entries as string[];
      const hostOnly = readdirSync('/').filter((name) => !readdirSync(rootfsTemplate()).includes(name));
      expect(hostOnly.length).toBeGreaterThan(0); // the check means something only if / differs
      expect(entries).toContain(ROOTFS_MARKER);
      for (const name of hostOnly) expect(entries).not.toContain(name);
    });
  });

  describe('uts', () => {
    test('the container has its own hostname and cannot change it, nor the host’s', async () => {
      const before = hostname();
      const line = await sandbox().probe(['uts'], { spec: { hostname: 'learner-box' } });
      expect(line).toMatchObject({ nodename: 'learner-box', ok: false, error: 'EPERM', after: 'learner-box' });
      expect(hostname()).toBe(before);
    });
  });

  describe('ipc', () => {
    test('a host SysV shared memory segment is invisible inside', async () => {
      const key = String(0x4c430000 + randomInt(0xffff)); // "LC" + random
      const created = hostProbe(['shm-create', key]);
      expect(created.ok).toBe(true);
      try {
        expect(hostProbe(['shm-get', key]).ok).toBe(true); // the bait is real on the host
        expect(await sandbox().probe(['shm-get', key])).toMatchObject({ ok: false, error: 'ENOENT' });
      } finally {
        hostProbe(['shm-remove', key]);
      }
    });
  });

  describe('cgroup', () => {
    test('/proc/self/cgroup shows the container at the root of every hierarchy', async () => {
      const line = await sandbox().probe(['read', '/proc/self/cgroup']);
      const entries = String(line.data).trim().split('\n');
      expect(entries.length).toBeGreaterThan(0);
      for (const entry of entries) expect(entry).toMatch(/:\/$/);
    });
  });

  describe('network', () => {
    test('only the loopback interface exists, and it is up', async () => {
      const line = await sandbox().probe(['ifaces']);
      expect(line.ifaces).toEqual([{ name: 'lo', up: true }]);
    });

    test('a TCP listener on the host’s 127.0.0.1 is unreachable', async () => {
      const listener = await hostListener({ port: 0, host: '127.0.0.1' });
      try {
        // Control: from the host, the same probe does get through.
        expect(hostProbe(['tcp', '127.0.0.1', String(listener.port)]).ok).toBe(true);
        await waitForConnections(listener, 1);
        const line = await sandbox().probe(['tcp', '127.0.0.1', String(listener.port)]);
        expect(line).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
        expect(listener.connections()).toBe(1);
      } finally {
        await closeServer(listener.server);
      }
    });

    test('there is no route out: connecting to 10.0.0.1 fails with ENETUNREACH', async () => {
      const line = await sandbox().probe(['tcp', '10.0.0.1', '80']);
      expect(line).toMatchObject({ ok: false, error: 'ENETUNREACH' });
    });

    test('a host abstract unix socket is unreachable', async () => {
      const name = `layercake-test-${randomBytes(6).toString('hex')}`;
      const listener = await hostListener({ path: `\0${name}` });
      try {
        expect(hostProbe(['unix-abstract', name]).ok).toBe(true); // control, as above
        await waitForConnections(listener, 1);
        const line = await sandbox().probe(['unix-abstract', name]);
        expect(line).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
        expect(listener.connections()).toBe(1);
      } finally {
        await closeServer(listener.server);
      }
    });
  });
});
