// A bundle made by `runc spec`, as a learner following runc's own docs would make it. Its
// defaults ask for two things Layercake never grants: ambient capabilities (dropped, with a note
// on stderr, as Docker does since CVE-2022-24769) and a cgroup mount (shown read-only: the
// container's own cgroup). Both are accepted. What cannot be made safe is refused with the
// failure record: without a user namespace mapping the container's root would be host root, and
// the launcher must not pick host ids itself (the engine hands out the ranges).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { launcherFailure } from '../../worker/src/runtime/launcher-error.js';
import type { OciSpec } from '../../worker/src/runtime/oci-spec.js';
import { isNative, runtimes, useSandbox, type Bundle, type Sandbox } from './harness.js';
import { capabilityMask } from './host.js';
import { RUNC_BIN } from './paths.js';

/** `runc spec`'s config.json, fresh from Debian's runc. */
function runcSpec(): OciSpec {
  const dir = mkdtempSync(join(tmpdir(), 'runc-spec-'));
  try {
    execFileSync(RUNC_BIN, ['spec', '--bundle', dir]);
    return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as OciSpec;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A bundle whose config.json is runc's, with `edit` applied; `range` is the bundle's id range. */
function runcBundle(sb: Sandbox, args: string[], edit: (spec: OciSpec, range: { hostId: number; size: number }) => void): Bundle {
  return sb.bundle({
    args,
    edit: (spec) => {
      const mapping = spec.linux.uidMappings[0]!;
      const range = { hostId: mapping.hostID, size: mapping.size };
      for (const key of Object.keys(spec)) delete (spec as unknown as Record<string, unknown>)[key];
      Object.assign(spec, runcSpec());
      spec.process.args = args;
      edit(spec, range);
    },
  });
}

const RUNC_DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

describe.each(runtimes())('a bundle made by runc spec — $name', (rt) => {
  const sandbox = useSandbox(rt);
  const native = isNative(rt);

  test('with a user namespace mapping added, it runs: ambient capabilities dropped with a note, its cgroup read-only at /sys/fs/cgroup', async () => {
    const sb = sandbox();
    const b = runcBundle(sb, ['/bin/sh', '-c', '/probe status; /probe ls /sys/fs/cgroup/memory; /probe create /sys/fs/cgroup/memory/x; /probe read /dev/null'], (spec, range) => {
      // What `runc spec --rootless` adds, with an unprivileged range instead of the caller's uid.
      spec.linux.namespaces.push({ type: 'user' });
      spec.linux.uidMappings = [{ containerID: 0, hostID: range.hostId, size: range.size }];
      spec.linux.gidMappings = [{ containerID: 0, hostID: range.hostId, size: range.size }];
      // runc's terminal needs --console-socket, which this suite does not speak; the launcher
      // relays it, so its bundle stays as runc made it.
      if (!native) spec.process.terminal = false;
    });
    expect(b.spec.mounts.some((m) => m.type === 'cgroup')).toBe(true);
    expect(b.spec.process.capabilities.ambient).toEqual(RUNC_DEFAULT_CAPS);
    const r = await sb.run(b);
    expect(r.code, r.stderr).toBe(0);
    const [status, cgroup, write, devNull] = r.lines;
    // Empty in both; runc does try, but the kernel raises an ambient capability only if it is
    // inheritable too, and runc spec lists no inheritable set.
    expect(status).toMatchObject({ CapInh: '0000000000000000', CapAmb: '0000000000000000' });
    if (native) {
      expect(r.stderr).toMatch(/^sandbox-native: note: .*inheritable and ambient sets are dropped.*CVE-2022-24769/m);
      expect(launcherFailure(r.stderr)).toBeNull();
    }
    // The effective set is what the spec's bounding set allows in both.
    expect(status?.CapEff).toBe(capabilityMask(RUNC_DEFAULT_CAPS));
    expect((cgroup?.entries as { name: string }[]).map((e) => e.name)).toContain('/sys/fs/cgroup/memory/memory.limit_in_bytes');
    expect(write).toMatchObject({ ok: false, error: 'EROFS' });
    // runc spec's device rules deny everything; runc, and the launcher, append the devices
    // /dev holds after them, so /dev/null (and, for the relay, /dev/ptmx) still open.
    expect(devNull).toMatchObject({ ok: true, bytes: 0 });
  });

  test.runIf(native)('without a user namespace mapping it is refused, with the failure record (step spec, 125)', async () => {
    const sb = sandbox();
    const b = runcBundle(sb, ['/probe', 'status'], (spec) => {
      spec.process.terminal = false;
    });
    const r = await sb.run(b);
    expect(r.lines).toEqual([]);
    const failure = launcherFailure(r.stderr);
    expect(failure, r.stderr).toMatchObject({ step: 'spec', errno: 0, exitStatus: 125 });
    expect(failure?.message).toContain('uidMappings');
    expect(r.code).toBe(125);
  });
});
