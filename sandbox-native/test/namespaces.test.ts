// pid, mount, uts, ipc, cgroup and network namespaces: what the host has, the container
// can neither see nor reach.

import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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
      // The root field of a mount names the directory within its filesystem: for a plain
      // directory bind-mounted into place (runc) the rootfs path itself, on the "/" line.
      // sandbox-native shows the directory as an overlay instead, and no line names the bundle.
      if (isNative(rt)) {
        for (const m of mounts) expect(m.line).not.toContain(bundle.dir);
        // volatile: a stop does not sync the host's filesystem, and fsync inside stops at the page cache (RUNC-DIFFERENCES)
        expect(mounts.find((m) => m.mountPoint === '/')?.line).toMatch(/ - overlay overlay .*\bvolatile\b/);
      } else {
        expect(mounts.find((m) => m.mountPoint === '/')?.root).toBe(bundle.rootfs); // the control: see RUNC-DIFFERENCES
        for (const m of mounts.filter((x) => x.mountPoint !== '/')) expect(m.line).not.toContain(bundle.dir);
      }
      expect(mounts.filter((m) => m.mountPoint === '/')).toHaveLength(1);
      // One mount per path, as Docker shows it (the spec's masked paths repeat the defaults).
      const points = mounts.map((m) => m.mountPoint);
      expect(points.filter((p, i) => points.indexOf(p) !== i)).toEqual([]);
    });

    // A plain directory as the rootfs is the upper layer of an overlay over an empty lower
    // one (README, "What it enforces"): the container reads and writes the directory itself,
    // and the overlay's lower and work dirs live beside it only while the container does.
    describe('a plain-directory rootfs', () => {
      const aside = (b: { dir: string; id: string }) => join(b.dir, `.rootfs.overlay-${b.id}`);

      test.runIf(isNative(rt))('is the directory itself: a file in it is read inside, what the container writes is in it afterwards (a leftover beside it is not used)', async () => {
        const sb = sandbox();
        const bundle = sb.bundle({
          args: ['/bin/sh', '-c', 'cat /given && echo written > /written && mkdir /made && mv /made /moved && rm /removed && ! test -e /planted'],
          rootfs: (r) => {
            writeFileSync(join(r, 'given'), 'from the host\n');
            writeFileSync(join(r, 'removed'), '');
            // What a host that went down before delete would leave, with something in its lower
            // layer: removed first, never used (the bundle dir is named for the id).
            const leftover = aside({ dir: dirname(r), id: basename(dirname(r)) });
            mkdirSync(join(leftover, 'lower'), { recursive: true });
            writeFileSync(join(leftover, 'lower/planted'), '');
          },
        });
        const result = await sb.run(bundle);
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toBe('from the host\n');
        expect(result.stderr).toBe(''); // no note: the overlay was not given up for a bind mount
        expect(readFileSync(join(bundle.rootfs, 'written'), 'utf8')).toBe('written\n');
        // Owned on disk by the container's root through the idmapped layer, as with the bind mount.
        expect(statSync(join(bundle.rootfs, 'written')).uid).toBe(0);
        expect(statSync(join(bundle.rootfs, 'moved')).isDirectory()).toBe(true);
        // Nothing below the directory, so a removal is a removal: no whiteout left in its place.
        expect(existsSync(join(bundle.rootfs, 'removed'))).toBe(false);
        expect(existsSync(aside(bundle))).toBe(false); // removed when the container stopped
      });

      // What the host changes while the container runs: a name the container has not looked up
      // appears, a file's new content is read; a name it looked up before the host made (or
      // removed) it keeps what it was (overlayfs keeps the negative lookup; its docs call changes to a layer
      // under a mounted overlay undefined, as host writes into a running Docker container's
      // rootfs are). runc, bind-mounting the directory, sees that one too: the control.
      test('what the host changes while it runs: a new name appears, one looked up before it was made or removed keeps its old state (runc: seen)', async () => {
        const sb = sandbox();
        const bundle = sb.bundle({
          args: [
            '/bin/sh',
            '-c',
            'test -e /gone; test -e /late; echo "looked $?"; read go; ' +
              'test -e /late && echo late-seen || echo late-unseen; cat /fresh /changed; ' +
              '(echo x > /late) 2>/dev/null && echo late-written || echo late-refused; ' +
              'test -e /gone && echo gone-shown || echo gone-hidden',
          ],
          rootfs: (r) => {
            writeFileSync(join(r, 'changed'), 'before\n');
            writeFileSync(join(r, 'gone'), '');
          },
        });
        const running = sb.start(bundle);
        await running.waitFor(/^looked 1$/m);
        if (isNative(rt)) expect(existsSync(join(aside(bundle), 'work'))).toBe(true); // beside the rootfs while it runs
        writeFileSync(join(bundle.rootfs, 'late'), 'made after the lookup\n');
        writeFileSync(join(bundle.rootfs, 'fresh'), 'never looked up\n');
        writeFileSync(join(bundle.rootfs, 'changed'), 'after\n');
        rmSync(join(bundle.rootfs, 'gone'));
        running.write('go\n');
        running.child.stdin?.end();
        const result = await running.exited;
        expect(result.stdout).toContain('never looked up\nafter\n');
        if (isNative(rt)) {
          expect(result.stdout).toContain('late-unseen');
          // Writing the name it cannot see fails (ESTALE), and the host's file stays as it was.
          expect(result.stdout).toContain('late-refused');
          expect(readFileSync(join(bundle.rootfs, 'late'), 'utf8')).toBe('made after the lookup\n');
          // And a name it looked up that the host then removed still shows.
          expect(result.stdout).toContain('gone-shown');
        } else {
          expect(result.stdout).toContain('late-seen');
          expect(result.stdout).toContain('gone-hidden');
        }
      });

      test.runIf(isNative(rt))('leaves nothing beside the rootfs: after a kept stop, a delete before start, and a delete after the launcher was killed', async () => {
        const sb = sandbox();
        const kept = sb.bundle({ args: ['/bin/true'] });
        expect((await sb.run(kept, { flags: ['--keep'] })).code).toBe(0);
        expect((await sb.state(kept.id)).status).toBe('stopped');
        expect(existsSync(aside(kept))).toBe(false);

        const created = sb.bundle({ args: ['/bin/true'] });
        await sb.create(created);
        expect(existsSync(join(aside(created), 'work'))).toBe(true);
        expect((await sb.command(['delete', '--force', created.id])).code).toBe(0);
        expect(existsSync(aside(created))).toBe(false);

        // SIGKILLed, the launcher removes nothing itself (its container dies with it): delete does.
        const killed = sb.bundle({ args: ['/bin/sh', '-c', 'echo up; sleep 60'] });
        const running = sb.start(killed);
        await running.waitFor(/^up$/m);
        running.child.kill('SIGKILL');
        await running.exitedOnly();
        expect(existsSync(join(aside(killed), 'work'))).toBe(true);
        expect((await sb.command(['delete', '--force', killed.id])).code).toBe(0);
        expect(existsSync(aside(killed))).toBe(false);
      });

      // Where the overlay cannot be (here: a read-only bundle directory has no room for its
      // work dir), the directory is bind-mounted as before, and stderr says why.
      test.runIf(isNative(rt))('in a read-only bundle directory is bind-mounted, with a note, and still runs', async () => {
        const sb = sandbox();
        const bundle = sb.bundle({ args: ['/bin/sh', '-c', 'cat /given /proc/self/mountinfo'], rootfs: (r) => writeFileSync(join(r, 'given'), 'read-only\n') });
        execFileSync('mount', ['--bind', '-o', 'ro', bundle.dir, bundle.dir]);
        try {
          const result = await sb.run(bundle);
          expect(result.code, result.stderr).toBe(0);
          expect(result.stdout).toContain('read-only\n');
          expect(result.stdout).toContain(` ${bundle.rootfs} / `); // the / line's root: the rootfs path, as runc shows it
          expect(result.stderr).toMatch(/note: .* is bind-mounted, so \/proc\/self\/mountinfo shows its path: its parent is not writable/);
        } finally {
          execFileSync('umount', [bundle.dir]);
        }
        expect(existsSync(aside(bundle))).toBe(false);
      });
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
