// What sandbox-native enforces whatever config.json asks for (README: "What it enforces,
// independent of what config.json asks for"). Each spec below asks for something weaker;
// sandbox-native must refuse it or hold the line anyway. runc does what the spec says —
// asserted here as its actual behaviour and listed in RUNC-DIFFERENCES.md — which is why
// the worker must only ever hand runc specs from hardenedSpec().

import { describe, expect, test } from 'vitest';
import type { OciSpec } from '../../worker/src/runtime/oci-spec.js';
import { isNative, runtimes, useSandbox, type RunResult, type Sandbox } from './harness.js';
import { capabilityMask, hostHasContent } from './host.js';

async function runWith(sb: Sandbox, args: string[], edit: (spec: OciSpec) => void): Promise<RunResult> {
  return sb.run(sb.bundle({ args, edit }));
}

function expectRefused(r: RunResult): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.lines).toEqual([]);
  expect(r.stderr.length).toBeGreaterThan(0); // says why
}

const addCapability = (cap: string) => (spec: OciSpec) => {
  for (const set of ['bounding', 'effective', 'permitted'] as const) spec.process.capabilities[set].push(cap);
};
const SYS_ADMIN_BIT = 1n << 21n;

describe.each(runtimes())('launcher contract — $name', (rt) => {
  const sandbox = useSandbox(rt);
  const native = isNative(rt);

  test(native ? 'a capability outside the short list is refused' : 'runc: grants CAP_SYS_ADMIN when the spec asks', async () => {
    const r = await runWith(sandbox(), ['/probe', 'status'], addCapability('CAP_SYS_ADMIN'));
    if (native) return expectRefused(r);
    expect(BigInt(`0x${String(r.probe().CapEff)}`) & SYS_ADMIN_BIT).toBe(SYS_ADMIN_BIT);
  });

  test(native ? 'inheritable and ambient capabilities stay empty whatever the spec says' : 'runc: fills inheritable and ambient sets when asked', async () => {
    const r = await runWith(sandbox(), ['/probe', 'status'], (spec) => {
      spec.process.capabilities.inheritable = ['CAP_CHOWN'];
      spec.process.capabilities.ambient = ['CAP_CHOWN'];
    });
    const chown = capabilityMask(['CAP_CHOWN']);
    if (native) {
      if (r.lines.length === 0) return expectRefused(r);
      expect(r.probe()).toMatchObject({ CapInh: '0000000000000000', CapAmb: '0000000000000000' });
    } else {
      expect(r.probe()).toMatchObject({ CapInh: chown, CapAmb: chown });
    }
  });

  test(native ? 'a spec without a user namespace is refused or gets one anyway' : 'runc: without a user namespace the container’s root is host root', async () => {
    const r = await runWith(sandbox(), ['/probe', 'read', '/proc/self/uid_map'], (spec) => {
      spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'user');
      spec.linux.uidMappings = [];
      spec.linux.gidMappings = [];
    });
    const map = () => String(r.probe().data).trim().split(/\s+/).map(Number);
    if (native) {
      if (r.lines.length === 0) return expectRefused(r);
      expect(map()[1]).not.toBe(0);
    } else {
      expect(map()).toEqual([0, 0, 4294967295]);
    }
  });

  test(native ? 'a mapping of host uid 0 is refused' : 'runc: maps container root to host root when the spec says so', async () => {
    const r = await runWith(sandbox(), ['/probe', 'read', '/proc/self/uid_map'], (spec) => {
      spec.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
      spec.linux.gidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
    });
    if (native) return expectRefused(r);
    expect(String(r.probe().data).trim().split(/\s+/).map(Number)).toEqual([0, 0, 65536]);
  });

  test(native ? 'sets additional groups, as runc does' : 'runc: sets additional groups', async () => {
    const r = await runWith(sandbox(), ['/probe', 'status'], (spec) => {
      spec.process.user.additionalGids = [5, 10];
    });
    expect(String(r.probe().Groups).trim()).toBe('5 10');
  });

  if (native) {
    test('an additional group outside the mapping is refused', async () => {
      const r = await runWith(sandbox(), ['/probe', 'status'], (spec) => {
        spec.process.user.additionalGids = [5, 70000];
      });
      expectRefused(r);
    });
  }

  test(native ? 'a spec without a network namespace still gets only loopback' : 'runc: without a network namespace the container shares the host’s interfaces', async () => {
    const r = await runWith(sandbox(), ['/probe', 'ifaces'], (spec) => {
      spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
      // sysfs can only be mounted by the owner of a network namespace (and the cgroup view
      // lives inside it).
      spec.mounts = spec.mounts.filter((m) => m.destination !== '/sys' && !m.destination.startsWith('/sys/'));
    });
    if (native) {
      if (r.lines.length === 0) return expectRefused(r);
      expect(r.probe().ifaces).toEqual([{ name: 'lo', up: true }]);
    } else {
      expect((r.probe().ifaces as { name: string }[]).length).toBeGreaterThan(1);
    }
  });

  test(native ? 'no_new_privs is set even when the spec turns it off' : 'runc: honours noNewPrivileges: false', async () => {
    const r = await runWith(sandbox(), ['/probe', 'status'], (spec) => {
      spec.process.noNewPrivileges = false;
    });
    expect(r.probe().NoNewPrivs).toBe(native ? '1' : '0');
  });

  test(native ? 'RLIMIT_CORE is forced to 0' : 'runc: honours a non-zero RLIMIT_CORE', async () => {
    const r = await runWith(sandbox(), ['/probe', 'rlimits'], (spec) => {
      spec.process.rlimits = spec.process.rlimits.map((l) => (l.type === 'RLIMIT_CORE' ? { ...l, soft: 4096, hard: 4096 } : l));
    });
    expect(r.probe().core).toEqual(native ? { soft: 0, hard: 0 } : { soft: 4096, hard: 4096 });
  });

  test(native ? 'without rlimits in the spec, NOFILE is 1024 and FSIZE 1 GiB' : 'runc: without rlimits in the spec, limits are inherited from runc’s caller', async () => {
    const r = await runWith(sandbox(), ['/probe', 'rlimits'], (spec) => {
      spec.process.rlimits = [];
    });
    const line = r.probe();
    if (native) {
      expect(line).toMatchObject({ nofile: { soft: 1024, hard: 1024 }, fsize: { soft: 1024 ** 3, hard: 1024 ** 3 }, core: { soft: 0, hard: 0 } });
    } else {
      expect(line.fsize).toEqual({ soft: -1, hard: -1 }); // unlimited, as for the test process
    }
  });

  // World-readable files with content, so what shows is the mask, not a permission check.
  // /proc/interrupts joined Docker's list in 2025 (GHSA-6fw5-f8r9-fgfm).
  test.for(['/proc/keys', '/proc/interrupts'])(
    native ? 'Docker’s masked path %s is masked even when the spec lists none' : 'runc: %s is readable when the spec masks nothing',
    async (path, ctx) => {
      ctx.skip(!hostHasContent(path), `this host’s ${path} is empty: nothing to hide`);
      const r = await runWith(sandbox(), ['/probe', 'read', path, '16'], (spec) => {
        spec.linux.maskedPaths = [];
        spec.linux.readonlyPaths = [];
      });
      expect(r.probe().bytes).toBe(native ? 0 : 16);
    },
  );

  test(native ? 'Docker’s read-only paths apply even when the spec lists none' : 'runc: leaves /proc/sys writable-by-mount when the spec lists no read-only paths', async () => {
    const r = await runWith(sandbox(), ['/probe', 'write', '/proc/sys/kernel/core_pattern', '|/tmp/pwn'], (spec) => {
      spec.linux.maskedPaths = [];
      spec.linux.readonlyPaths = [];
    });
    // Without the read-only mount, the kernel's own check answers (EACCES: owned by host root).
    expect(r.probe().error).toBe(native ? 'EROFS' : 'EACCES');
  });
});
