// `stats` from the cgroup files the launcher names: numbers that move with what the container does.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { cpuPercent, type CgroupSample } from './stats.js';
import { createHarness, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('stats');
});
afterEach(async () => {
  await h.clean();
});
afterAll(async () => {
  await h?.close();
});

const MiB = 1024 * 1024;

it('memory grows when the container allocates, within its limit; pids count its processes', async () => {
  const c = h.containers();
  const { container } = await c.run({ image: 'busybox', cmd: ['sleep', '1000'], limits: { memoryBytes: 128 * MiB, pidsMax: 50 } });
  const before = await c.stats(container.id, { intervalMs: 100 });
  expect(before).toMatchObject({ running: true, memoryLimitBytes: 128 * MiB, pids: 1, pidsLimit: 50 });
  expect(before.memoryBytes).toBeLessThan(8 * MiB);

  // /dev/shm is a tmpfs: its pages are charged to the container's memory cgroup.
  const fill = await c.exec(container.id, { cmd: ['dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=40'] });
  expect((await fill.exited).exitCode).toBe(0);
  const after = await c.stats(container.id, { intervalMs: 100 });
  expect(after.memoryBytes - before.memoryBytes).toBeGreaterThan(35 * MiB);
  expect(after.memoryBytes).toBeLessThan(128 * MiB);

  expect(c.collected.ofType('container.stats')).toHaveLength(2);
  expect(c.collected.ofType('container.stats')[1]).toMatchObject({ containerId: container.id, memoryBytes: after.memoryBytes });
});

it('CPU percent follows the quota: a busy loop at 0.5 CPU shows about 50 %', async () => {
  const c = h.containers();
  const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'while :; do :; done'], limits: { cpus: 0.5 } });
  const idle = await c.stats(container.id, { intervalMs: 1000 });
  expect(idle.cpuPercent).toBeGreaterThan(30);
  expect(idle.cpuPercent).toBeLessThan(65);
  expect(idle.cpuUsageNanos).toBeGreaterThan(0);
});

it('a stopped container shows zeros', async () => {
  const c = h.containers();
  const { container } = await c.run({ image: 'busybox', cmd: ['true'] });
  await c.wait(container.id);
  expect(await c.stats(container.id, { intervalMs: 10 })).toMatchObject({ running: false, memoryBytes: 0, pids: 0, cpuPercent: 0 });
});

it('cpu percent is CPU time over wall time between two samples', () => {
  const at = (cpu: number, ns: bigint): CgroupSample => ({ memoryBytes: 0, memoryLimitBytes: 0, pids: 0, pidsLimit: 0, cpuUsageNanos: cpu, takenAtNanos: ns });
  expect(cpuPercent(at(0, 0n), at(500_000_000, 1_000_000_000n))).toBe(50);
  expect(cpuPercent(at(0, 0n), at(1_500_000_000, 1_000_000_000n))).toBe(150);
  expect(cpuPercent(at(5, 10n), at(5, 10n))).toBe(0);
});
