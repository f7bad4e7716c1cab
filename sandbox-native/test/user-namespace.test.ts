// Container root is not host root: it maps to an unprivileged host uid range of its own.

import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isNative, runtimes, useSandbox } from './harness.js';
import { hostIdsOf } from './host.js';
import { HOST_SCRATCH_DIR } from './paths.js';

describe.each(runtimes())('user namespace — $name', (rt) => {
  const sandbox = useSandbox(rt);

  test('uid and gid 0 map to the start of the container’s unprivileged host range', async () => {
    const sb = sandbox();
    const bundle = sb.bundle({ args: ['/bin/sh', '-c', '/probe read /proc/self/uid_map; /probe read /proc/self/gid_map'] });
    const r = await sb.run(bundle);
    expect(r.lines).toHaveLength(2);
    const [uidMap, gidMap] = r.lines.map((l) => String(l.data).trim().split(/\s+/).map(Number));
    expect(bundle.range.hostId).toBeGreaterThanOrEqual(65536);
    expect(uidMap).toEqual([0, bundle.range.hostId, bundle.range.size]);
    expect(gidMap).toEqual([0, bundle.range.hostId, bundle.range.size]);
  });

  test('a file container root creates on a host directory belongs to the mapped host uid, not root', async () => {
    const sb = sandbox();
    const out = join(HOST_SCRATCH_DIR, `${process.pid}-userns-out`);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    chmodSync(out, 0o777); // host root owns it; the container's root is "other" here
    try {
      const bundle = sb.bundle({
        args: ['/probe', 'create', '/out/made-by-container-root'],
        spec: {
          mounts: [
            { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] },
            { destination: '/out', type: 'bind', source: out, options: ['rbind', 'nosuid', 'nodev'] },
          ],
        },
      });
      expect((await sb.run(bundle)).probe()).toMatchObject({ ok: true });
      const st = statSync(join(out, 'made-by-container-root'));
      expect(st.uid).toBe(bundle.range.hostId);
      expect(st.gid).toBe(bundle.range.hostId);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('two containers running at once run as distinct, non-overlapping host uids', async () => {
    const sb = sandbox();
    const a = sb.bundle({ args: ['/probe', '--hold', 'ids'] });
    const b = sb.bundle({ args: ['/probe', '--hold', 'ids'] });
    const runA = sb.start(a);
    const runB = sb.start(b);
    expect(await runA.probeLine()).toMatchObject({ uid: 0 });
    expect(await runB.probeLine()).toMatchObject({ uid: 0 });
    const hostA = hostIdsOf(await sb.initPid(a.id));
    const hostB = hostIdsOf(await sb.initPid(b.id));
    expect(hostA).toEqual({ uid: a.range.hostId, gid: a.range.hostId });
    expect(hostB).toEqual({ uid: b.range.hostId, gid: b.range.hostId });
    const [lo, hi] = [a.range, b.range].sort((x, y) => x.hostId - y.hostId);
    expect(lo!.hostId + lo!.size).toBeLessThanOrEqual(hi!.hostId);
  });

  if (isNative(rt)) {
    // The `idmap` bind option (OCI runtime-spec 1.1) with the container's own mappings: the
    // builder's RUN --mount caches, used in turn by containers of different ranges.
    test('an idmap bind shows on-disk owners as container ids: root-owned files are its root\'s, and what it creates lands as uid 0 (control: the same bind without idmap)', async () => {
      const sb = sandbox();
      const out = join(HOST_SCRATCH_DIR, `${process.pid}-userns-idmap`);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
      chmodSync(out, 0o777); // so that the control, whose root is "other" here, can create too
      writeFileSync(join(out, 'root-only'), 'x', { mode: 0o600 });
      try {
        const run = async (options: string[], name: string) => {
          const bundle = sb.bundle({
            args: ['/bin/sh', '-c', `/probe read /out/root-only; /probe create /out/${name}`],
            spec: { mounts: [{ destination: '/out', type: 'bind', source: out, options: ['bind', 'nosuid', 'nodev', ...options] }] },
          });
          return { lines: (await sb.run(bundle)).lines, bundle };
        };
        const mapped = await run(['idmap'], 'made-idmapped');
        expect(mapped.lines[0]).toMatchObject({ ok: true });
        expect(mapped.lines[1]).toMatchObject({ ok: true });
        expect(statSync(join(out, 'made-idmapped')).uid).toBe(0);
        const plain = await run([], 'made-plain');
        expect(plain.lines[0]).toMatchObject({ ok: false, error: 'EACCES' });
        expect(statSync(join(out, 'made-plain')).uid).toBe(plain.bundle.range.hostId);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });

    test('a second container on a range a live container holds is refused, naming the holder', async () => {
      const sb = sandbox();
      const first = sb.bundle({ args: ['/probe', '--hold', 'ids'] });
      const running = sb.start(first);
      await running.probeLine();
      const second = sb.bundle({ args: ['/probe', 'ids'], idRange: first.range });
      const r = await sb.run(second);
      expect(r.code).not.toBe(0);
      expect(r.lines).toHaveLength(0);
      expect(r.stderr).toContain(first.id);
    });

    // apt, su and setpriv drop to a user with setgroups(2), so it is allowed; what keeps it
    // harmless: the container starts with no supplementary group (host root's are dropped
    // before its first instruction) and the kernel lets it take only gids of its own range.
    test('setgroups is allowed, the container starts with no supplementary groups, and an unmapped gid is refused', async () => {
      // The control: the launcher runs with host root's groups; without the drop the container
      // would start holding them (shown as the overflow gid) and could shed them.
      expect(process.getgroups?.().length).toBeGreaterThan(0);
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/bin/sh', '-c', '/probe read /proc/self/setgroups; /probe status; /probe syscall setgroups; /probe syscall setgroups-unmapped'] });
      const [file, status, call, unmapped] = (await sb.run(bundle)).lines;
      expect(String(file?.data).trim()).toBe('allow');
      expect(String(status?.Groups).trim()).toBe('');
      expect(call).toMatchObject({ ok: true });
      expect(unmapped).toMatchObject({ ok: false, error: 'EINVAL' });
    });
  } else {
    test('runc: setgroups is allowed too, and an unmapped gid is refused', async () => {
      const sb = sandbox();
      const bundle = sb.bundle({ args: ['/bin/sh', '-c', '/probe read /proc/self/setgroups; /probe syscall setgroups; /probe syscall setgroups-unmapped'] });
      const [file, call, unmapped] = (await sb.run(bundle)).lines;
      expect(String(file?.data).trim()).toBe('allow');
      expect(call).toMatchObject({ ok: true });
      expect(unmapped).toMatchObject({ ok: false, error: 'EINVAL' });
    });

    test('runc: a second container on the same range is accepted (differs from sandbox-native)', async () => {
      const sb = sandbox();
      const first = sb.bundle({ args: ['/probe', '--hold', 'ids'] });
      await sb.start(first).probeLine();
      const second = sb.bundle({ args: ['/probe', 'ids'], idRange: first.range });
      expect((await sb.run(second)).probe()).toMatchObject({ ok: true, uid: 0 });
    });
  }
});
