// Device nodes a container did not get from the launcher's /dev: one that comes with the image
// (a layer may hold any node, e.g. a loop device backing the engine's data) or with a mount
// must not open. The kernel refuses mknod in a user namespace, so a node already there is the
// way in. Two things refuse the open: the rootfs is mounted nodev, and, on any mount, the
// cgroup's device rules: the spec's v1 lists and the launcher's eBPF device filter (on the
// unified cgroup here, a hybrid host; on pure v2 see cgroup-v2/), which also holds when the
// spec lists no rules at all.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { ExtraMount, OciSpec } from '../../worker/src/runtime/oci-spec.js';
import { isNative, runtimes, useSandbox } from './harness.js';
import { cgroupFile } from './host.js';
import { HOST_SCRATCH_DIR, PROBE_BIN } from './paths.js';

// A loop device: the engine's own data filesystem is a loop-mounted image, so opening one
// from a container would read (or write) every tenant's layers. Major 7 is loop's everywhere.
const LOOP: [number, number] = [7, 0];

/** Puts `loop` (block 7:0) and `null` (char 1:3) into `dir`, mode 0666. */
function plantNodes(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  execFileSync('mknod', ['-m', '666', join(dir, 'loop'), 'b', String(LOOP[0]), String(LOOP[1])]);
  execFileSync('mknod', ['-m', '666', join(dir, 'null'), 'c', '1', '3']);
}

const ATTEMPTS = ['/bin/sh', '-c', '/probe read /nodes/loop 16; /probe read /nodes/null 16'];
const TMP_MOUNT: ExtraMount = { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] };
const noDeviceRules = (spec: OciSpec): void => void (spec.linux.resources.devices = []);

describe.each(runtimes())('$name', (rt) => {
  const sandbox = useSandbox(rt);
  const native = isNative(rt);
  let hostDir: string | undefined;
  afterEach(() => {
    if (hostDir) rmSync(hostDir, { recursive: true, force: true });
    hostDir = undefined;
  });

  /** A host directory holding the nodes, bind-mounted at /nodes: a mount without nodev. */
  function nodesMount(): ExtraMount {
    hostDir = join(HOST_SCRATCH_DIR, `nodes-${process.pid}-${randomBytes(4).toString('hex')}`);
    plantNodes(hostDir);
    return { destination: '/nodes', type: 'bind', source: hostDir, options: ['rbind'] };
  }

  test(native ? 'a device node in the image cannot be opened at all: the rootfs is mounted nodev' : 'runc: a device node in the image opens if the device rules allow it (its rootfs is not nodev)', async () => {
    const sb = sandbox();
    const bundle = sb.bundle({ args: ATTEMPTS, rootfs: (root) => plantNodes(join(root, 'nodes')) });
    const [loop, nul] = (await sb.run(bundle)).lines;
    if (native) {
      expect(loop).toMatchObject({ ok: false, error: 'EACCES' });
      expect(nul).toMatchObject({ ok: false, error: 'EACCES' });
    } else {
      expect(loop).toMatchObject({ ok: false, error: 'EPERM' });
      expect(nul).toMatchObject({ ok: true });
    }
  });

  test('on a mount without nodev, a block device node (a loop device) cannot be opened; an allowed one (null) can', async () => {
    const sb = sandbox();
    const bundle = sb.bundle({ args: ATTEMPTS, spec: { mounts: [TMP_MOUNT, nodesMount()] } });
    const [loop, nul] = (await sb.run(bundle)).lines;
    expect(loop).toMatchObject({ ok: false, error: 'EPERM' });
    // The same mount opens a node the rules allow: the refusal is the device rules.
    expect(nul).toMatchObject({ ok: true, bytes: 0 });
  });

  if (native) {
    test('with no device rules in the spec the launcher’s eBPF floor still refuses a loop device, while the v1 list allows everything', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({
        args: ['/bin/sh', '-c', `${ATTEMPTS[2]}; exec sleep 600`],
        spec: { mounts: [TMP_MOUNT, nodesMount()] },
        edit: noDeviceRules,
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
      // the same node.
      const outside = JSON.parse(
        execFileSync('unshare', ['--user', '--map-root-user', PROBE_BIN, 'read', join(hostDir!, 'loop'), '16'], { encoding: 'utf8' }),
      ) as Record<string, unknown>;
      expect(outside).toMatchObject({ ok: true });
    });
  } else {
    test('runc: with no device rules in the spec runc denies a loop device too (it always starts from deny-all)', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ATTEMPTS, spec: { mounts: [TMP_MOUNT, nodesMount()] }, edit: noDeviceRules });
      expect((await sb.run(bundle)).lines[0]).toMatchObject({ ok: false, error: 'EPERM' });
    });
  }
});
