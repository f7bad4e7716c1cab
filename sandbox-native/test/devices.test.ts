// Device nodes a container did not get from the launcher's /dev: one that comes with the image
// (a layer may hold any node, e.g. a loop device backing the engine's data) must not open. The kernel refuses
// mknod in a user namespace, so a node in the rootfs is the way in. What refuses the open is
// the cgroup's device rules: the v1 lists of the spec, and the launcher's eBPF device filter
// (on the unified cgroup here, a hybrid host; on pure v2 see cgroup-v2/), which also holds
// when the spec lists no rules at all.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isNative, runtimes, useSandbox } from './harness.js';
import { cgroupFile } from './host.js';
import { PROBE_BIN } from './paths.js';

// A loop device: the engine's own data filesystem is a loop-mounted image, so opening one
// from a container would read (or write) every tenant's layers. Major 7 is loop's everywhere.
const LOOP: [number, number] = [7, 0];

/** Puts `nodes/loop` (block 7:0) and `nodes/null` (char 1:3) into a rootfs, mode 0666. */
function plantNodes(rootfs: string): void {
  execFileSync('mkdir', ['-p', join(rootfs, 'nodes')]);
  execFileSync('mknod', ['-m', '666', join(rootfs, 'nodes/loop'), 'b', String(LOOP[0]), String(LOOP[1])]);
  execFileSync('mknod', ['-m', '666', join(rootfs, 'nodes/null'), 'c', '1', '3']);
}

const noDeviceRules = { edit: (spec: { linux: { resources: { devices?: unknown[] } } }) => void (spec.linux.resources.devices = []) };

describe.each(runtimes())('$name', (rt) => {
  const sandbox = useSandbox(rt);

  test('a block device node in the image (a loop device) cannot be opened; an allowed one (null) can', async () => {
    const sb = sandbox();
    const bundle = sb.bundle({ args: ['/bin/sh', '-c', '/probe read /nodes/loop 16; /probe read /nodes/null 16'], rootfs: plantNodes });
    const [loop, nul] = (await sb.run(bundle)).lines;
    expect(loop).toMatchObject({ ok: false, error: 'EPERM' });
    // The same mount opens a node the rules allow: the refusal is the device rules, not nodev.
    expect(nul).toMatchObject({ ok: true, bytes: 0 });
  });

  if (isNative(rt)) {
    test('with no device rules in the spec the launcher’s eBPF floor still refuses a loop device, while the v1 list allows everything', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({
        args: ['/bin/sh', '-c', '/probe read /nodes/loop 16; /probe read /nodes/null 16; exec sleep 600'],
        rootfs: plantNodes,
        ...noDeviceRules,
      });
      expect(bundle.spec.linux.resources.devices).toEqual([]);
      const running = sb.start(bundle);
      await running.waitFor(/"path":"\/nodes\/null".*\n/);
      // The v1 devices cgroup, given no rules, lets every device through ...
      expect(cgroupFile('devices', bundle.id, 'devices.list')).toBe('a *:* rwm');
      const [loop, nul] = running.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      // ... so what refuses the loop device is the device filter on the unified cgroup.
      expect(loop).toMatchObject({ ok: false, error: 'EPERM' });
      expect(nul).toMatchObject({ ok: true });
      // The control: a process in a user namespace of its own, under no device rules, opens
      // the same node on the same mount.
      const outside = JSON.parse(
        execFileSync('unshare', ['--user', '--map-root-user', PROBE_BIN, 'read', join(bundle.rootfs, 'nodes/loop'), '16'], { encoding: 'utf8' }),
      ) as Record<string, unknown>;
      expect(outside).toMatchObject({ ok: true });
    });
  } else {
    test('runc: with no device rules in the spec runc denies a loop device too (it always starts from deny-all)', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/probe', 'read', '/nodes/loop', '16'], rootfs: plantNodes, ...noDeviceRules });
      expect((await sb.run(bundle)).probe()).toMatchObject({ ok: false, error: 'EPERM' });
    });
  }
});
