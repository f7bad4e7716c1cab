// The container's own cgroup at /sys/fs/cgroup, read-only, as Docker shows it with a cgroup
// namespace (hardenedSpec mounts it, type `cgroup`): a learner reads the limits the engine set,
// and can neither change them nor reach any cgroup above its own. This host is cgroup v1 with a
// cgroup2 beside it (hybrid); the pure v2 layout is tested in cgroup-v2/.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isNative, runtimes, useSandbox, type ProbeLine } from './harness.js';
import { eventually } from './host.js';

const MiB = 1024 * 1024;
const V1 = '/sys/fs/cgroup';
const sh = (script: string) => ['/bin/sh', '-c', script];
const entryNames = (line: ProbeLine | undefined) => ((line?.entries ?? []) as { name: string }[]).map((e) => e.name);

// The hierarchies in which the launcher gives a container a cgroup of its own (cgroup.c).
const OWN = new Set(['memory', 'pids', 'cpu', 'cpuacct', 'freezer', 'devices']);
const hostHierarchies = () => readdirSync(V1).filter((name) => name !== 'unified');

describe.each(runtimes())('the container’s cgroup at /sys/fs/cgroup — $name', (rt) => {
  const sandbox = useSandbox(rt);
  const native = isNative(rt);

  test('a learner reads the limits the engine set: memory.limit_in_bytes, pids.max, cpu.cfs_quota_us', async () => {
    const sb = sandbox();
    const b = sb.bundle({
      args: sh(
        `/probe read ${V1}/memory/memory.limit_in_bytes; /probe read ${V1}/pids/pids.max; ` +
          `/probe read ${V1}/cpu/cpu.cfs_quota_us; /probe read /proc/self/cgroup`,
      ),
      spec: { memoryBytes: 48 * MiB, pidsMax: 64, cpuQuotaMicros: 50_000, cpuPeriodMicros: 100_000 },
    });
    const r = await sb.run(b);
    expect(r.code, r.stderr).toBe(0);
    const [memory, pids, quota, self] = r.lines;
    expect(memory?.data).toBe(`${48 * MiB}\n`);
    expect(pids?.data).toBe('64\n');
    expect(quota?.data).toBe('50000\n');
    // Its cgroup namespace is rooted at its own cgroup in every hierarchy.
    for (const entry of String(self?.data).trim().split('\n')) expect(entry).toMatch(/:\/$/);
  });

  test('the view is read-only: a limit cannot be raised, no cgroup made, nothing added (control: the same write works on the host)', async () => {
    const sb = sandbox();
    const b = sb.bundle({
      args: sh(
        `/probe write ${V1}/memory/memory.limit_in_bytes ${1024 * MiB}; /probe write ${V1}/pids/pids.max max; ` +
          `/probe mkdir ${V1}/memory/escape; /probe create ${V1}/added; /probe read ${V1}/memory/memory.limit_in_bytes`,
      ),
      spec: { memoryBytes: 48 * MiB, pidsMax: 64 },
    });
    const r = await sb.run(b);
    expect(r.code, r.stderr).toBe(0);
    const [memory, pids, mkdir, added, after] = r.lines;
    // EROFS, not EACCES: the probe opens with O_TRUNC, so the read-only mount answers first.
    expect(memory).toMatchObject({ ok: false, error: 'EROFS' });
    expect(pids).toMatchObject({ ok: false, error: 'EROFS' });
    expect(mkdir).toMatchObject({ ok: false, error: 'EROFS' });
    // runc leaves the tmpfs that holds the hierarchies writable (container root owns it).
    expect(added).toMatchObject(native ? { ok: false, error: 'EROFS' } : { ok: true });
    expect(after?.data).toBe(`${48 * MiB}\n`);

    // Control: a limit file is writable where nothing stops the writer.
    const control = join(V1, 'memory', `lc-test-control-${randomBytes(4).toString('hex')}`);
    mkdirSync(control);
    try {
      writeFileSync(join(control, 'memory.limit_in_bytes'), String(1024 * MiB));
      expect(readFileSync(join(control, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(1024 * MiB));
    } finally {
      rmdirSync(control);
    }
  });

  test('no way up: no other cgroup is visible, no release_agent, and mounting or remounting is refused', async () => {
    const bait = `lc-test-bait-${randomBytes(4).toString('hex')}`;
    // A sibling of the container's cgroup, and one at the root of a hierarchy where the launcher
    // gives the container no cgroup of its own (cpuset): there its namespace is rooted at the
    // caller's cgroup, and a view of that hierarchy would show the bait.
    const baits = [join(V1, 'memory/layercake', bait), join(V1, 'cpuset', bait)];
    for (const dir of baits) mkdirSync(dir, { recursive: true });
    try {
      for (const dir of baits) expect(existsSync(dir)).toBe(true); // the host sees them
      expect(existsSync(join(V1, 'memory/release_agent'))).toBe(true); // CVE-2022-0492's file, at the host's root
      const sb = sandbox();
      const b = sb.bundle({
        args: sh(
          `/probe ls ${V1} 3; /probe ls ${V1}/memory/../.. 1; /probe stat ${V1}/memory/release_agent; ` +
            `/probe mount-at cgroup /tmp memory; /probe mount-at cgroup2 /tmp; ` +
            `/probe remount-rw ${V1}/memory; /probe umount-at ${V1}/memory`,
        ),
      });
      const r = await sb.run(b);
      expect(r.code, r.stderr).toBe(0);
      const [tree, above, releaseAgent, mountV1, mountV2, remount, umount] = r.lines;
      const names = [...entryNames(tree), ...entryNames(above)];
      expect(names.length).toBeGreaterThan(20);
      for (const name of names) {
        expect(name).not.toContain(bait);
        expect(name).not.toContain('layercake');
      }
      // /sys/fs/cgroup/memory/../.. is /sys/fs: the view's tmpfs, then sysfs, never a parent cgroup.
      expect(entryNames(above)).toContain(`${V1}/memory/../../cgroup`);
      expect(releaseAgent).toMatchObject({ ok: false, error: 'ENOENT' });
      for (const attempt of [mountV1, mountV2, remount, umount]) expect(attempt).toMatchObject({ ok: false, error: 'EPERM' });
    } finally {
      for (const dir of baits) await eventually(() => { try { rmdirSync(dir); return true; } catch { return !existsSync(dir); } }, 5_000);
    }
  });

  test(
    native
      ? 'only hierarchies where the container has a cgroup of its own are shown (not cpuset, blkio, name=systemd)'
      : 'runc: shows every hierarchy (it makes the container a cgroup in each)',
    async () => {
      const sb = sandbox();
      const r = await sb.run(sb.bundle({ args: ['/probe', 'ls', V1] }));
      const shown = entryNames(r.probe()).map((n) => n.slice(V1.length + 1)).sort();
      const expected = native
        ? [...hostHierarchies().filter((h) => h.split(',').some((c) => OWN.has(c))), ...(existsSync(join(V1, 'unified')) ? ['unified'] : [])]
        : hostHierarchies();
      expect(shown).toEqual(expected.sort());
      if (native) expect(shown).not.toContain('cpuset');
    },
  );

  // The control for the remount above: what stops it is the capability. Only runc can be given
  // CAP_SYS_ADMIN (sandbox-native refuses such a spec: contract.test.ts).
  test.runIf(!native)('control, runc given CAP_SYS_ADMIN and no seccomp filter: the same remount makes the view writable', async () => {
    const sb = sandbox();
    const b = sb.bundle({
      args: sh(`/probe remount-rw ${V1}/memory; /probe write ${V1}/memory/memory.limit_in_bytes ${1024 * MiB}`),
      edit: (spec) => {
        for (const set of ['bounding', 'effective', 'permitted'] as const) spec.process.capabilities[set].push('CAP_SYS_ADMIN');
        delete (spec.linux as { seccomp?: unknown }).seccomp;
      },
    });
    const [remount, write] = (await sb.run(b)).lines;
    expect(remount).toMatchObject({ ok: true });
    // Writable now; the files' host-root owner is all that is left between it and its limits.
    expect(write).toMatchObject({ ok: false, error: 'EACCES' });
  });
});
