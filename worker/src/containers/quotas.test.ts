// Session quotas (images, containers, bytes of layers) checked where something new is made, and
// the idle reaper that stops containers nobody uses.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reapIdleContainers } from './idle-reaper.js';
import { createHarness, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('quotas');
});
afterEach(async () => {
  await h.clean();
  // Images the tests committed count against later tests' quotas: remove them.
  const c = h.containers();
  for (const image of await c.images.list()) {
    if (image.repository !== 'busybox') await h.store.remove(image.id, { force: true }).catch(() => undefined);
  }
  for (const id of await c.images.owned()) {
    await h.store.remove(id, { force: true }).catch(() => undefined);
    await c.images.disown(id);
  }
});
afterAll(async () => {
  await h?.close();
});

const MiB = 1024 * 1024;

describe('session quotas', () => {
  it('refuses a container past the session’s count, and counts only the session’s', async () => {
    const c = h.containers({ quotas: { containers: 2 } });
    await c.create({ image: 'busybox' });
    const second = await c.create({ image: 'busybox' });
    await expect(c.create({ image: 'busybox' })).rejects.toMatchObject({ key: 'quota.containers', facts: { count: 2, limit: 2 } });
    // Another session has its own count.
    await h.containers({ session: 'other', quotas: { containers: 2 } }).create({ image: 'busybox' });
    await c.remove(second.id);
    await c.create({ image: 'busybox' });
  });

  it('refuses a commit past the session’s image count', async () => {
    const c = h.containers({ quotas: { images: 1 } });
    const { container } = await c.run({ image: 'busybox', cmd: ['true'] });
    await c.wait(container.id);
    await c.commit(container.id, { reference: 'one' });
    await expect(c.commit(container.id, { reference: 'two' })).rejects.toMatchObject({ key: 'quota.images', facts: { count: 1, limit: 1 } });
    expect((await c.usage()).images).toBe(1);
  });

  it('counts writable layers and the session’s own layers against its bytes, not the base image', async () => {
    const c = h.containers({ quotas: { layerBytes: 4 * MiB } });
    expect((await c.usage()).layerBytes).toBe(0);
    const { container } = await c.run({ image: 'busybox', cmd: ['dd', 'if=/dev/zero', 'of=/blob', 'bs=1M', 'count=3'] });
    await c.wait(container.id);
    const usage = await c.usage();
    expect(usage.layerBytes).toBe(3 * MiB);
    expect(usage.containers).toBe(1);
    // The commit would add a 3 MiB layer: 6 MiB in all.
    await expect(c.commit(container.id, { reference: 'blob' })).rejects.toMatchObject({
      key: 'quota.layerBytesAdding',
      facts: { size: '3 MiB', adding: '3 MiB', limit: '4 MiB' },
    });

    const roomy = h.containers({ quotas: { layerBytes: 16 * MiB } });
    await roomy.commit(container.id, { reference: 'blob' });
    // Its layer counts once, beside the writable layer it was copied from.
    expect((await roomy.usage()).layerBytes).toBe(6 * MiB);
    await expect(h.containers({ quotas: { layerBytes: 5 * MiB } }).create({ image: 'busybox' })).rejects.toMatchObject({ key: 'quota.layerBytes' });
  });
});

describe('session totals of running containers', () => {
  it('refuses a start that would take the session past its memory or pids total, counting only live containers of that session', async () => {
    const c = h.containers({ quotas: { runningMemoryBytes: 600 * MiB, runningPids: 300 } });
    const first = (await c.run({ image: 'busybox', cmd: ['sleep', '1000'], limits: { memoryBytes: 256 * MiB, pidsMax: 100 } })).container;
    await c.run({ image: 'busybox', cmd: ['sleep', '1000'], limits: { memoryBytes: 256 * MiB, pidsMax: 100 } });
    // A third of 256 MiB would make 768 MiB: refused before anything runs.
    const third = await c.create({ image: 'busybox', cmd: ['sleep', '1000'], limits: { memoryBytes: 256 * MiB, pidsMax: 100 } });
    await expect(c.start(third.id)).rejects.toMatchObject({ key: 'quota.memory', facts: { used: '512 MiB', adding: '256 MiB', limit: '600 MiB' } });
    expect((await c.inspect(third.id)).status).toBe('created');
    // Small in memory, but 101 more pids than the 100 left.
    await expect(c.run({ image: 'busybox', cmd: ['true'], limits: { memoryBytes: 16 * MiB, pidsMax: 101 } })).rejects.toMatchObject({
      key: 'quota.pids',
      facts: { used: 200, adding: 101, limit: 300 },
    });
    // Another session has totals of its own.
    const other = h.containers({ session: 'other', quotas: { runningMemoryBytes: 600 * MiB } });
    await other.run({ image: 'busybox', cmd: ['true'], limits: { memoryBytes: 256 * MiB } });
    // A stopped container takes nothing: the third starts once the first is gone.
    await c.kill(first.id);
    await c.wait(first.id);
    await c.start(third.id);
    expect((await c.inspect(third.id)).status).toBe('running');
  });

  it('by default keeps twenty containers of one session from taking the host: the sum of their limits is bounded', async () => {
    const c = h.containers();
    const started: string[] = [];
    let refused: unknown = null;
    for (let i = 0; i < 20 && refused === null; i++) {
      try {
        started.push((await c.run({ image: 'busybox', cmd: ['sleep', '1000'], limits: { memoryBytes: 1024 * MiB } })).container.id);
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toMatchObject({ key: 'quota.memory' });
    expect(started.length).toBe(2); // 2 GiB in all, 1 GiB each
  });
});

describe('idle reaper', () => {
  it('stops containers without start, attach or exec activity for their idle timeout, and only those', async () => {
    const c = h.containers({ defaults: { idleTimeoutMs: 1000, stopGraceMs: 200 } });
    const quiet = (await c.run({ image: 'busybox', cmd: ['sleep', '1000'] })).container;
    const busy = (await c.run({ image: 'busybox', cmd: ['sleep', '1000'] })).container;
    const patient = (await c.run({ image: 'busybox', cmd: ['sleep', '1000'], limits: { idleTimeoutMs: 60_000 } })).container;
    expect(await reapIdleContainers(h.engine)).toEqual([]);

    await new Promise((r) => setTimeout(r, 700));
    const e = await c.exec(busy.id, { cmd: ['true'] });
    await e.exited;
    // 1.2 s after the starts, 0.5 s after the exec.
    const reaped = await reapIdleContainers(h.engine, { now: Date.now() + 500 });
    expect(reaped.map((r) => r.id)).toEqual([quiet.id]);
    expect(reaped[0]!.idleMs).toBeGreaterThanOrEqual(1000);
    expect((await c.inspect(quiet.id)).status).toBe('exited');
    expect((await c.inspect(busy.id)).status).toBe('running');
    expect((await c.inspect(patient.id)).status).toBe('running');
    expect((await c.inspect(busy.id)).lastActivityAt).not.toBe((await c.inspect(quiet.id)).lastActivityAt);
  });
});
