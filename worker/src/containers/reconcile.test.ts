// Containers outlive the engine process that started them: their exit is recorded by whichever
// process looks next, after a restart too (new objects over the same data dir), and a launcher
// that was killed outright is recorded as such. Id ranges belong to the launcher monitors.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { enginePaths } from '../config.js';
import { ImageStore } from '../image-store/index.js';
import { sandboxNative } from '../runtime/container-runtime.js';
import { IdRangeAllocator } from '../runtime/id-ranges.js';
import { Containers } from './containers.js';
import { createHarness, eventually, LAUNCHER, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('reconcile');
});
afterEach(async () => {
  await h.clean();
});
afterAll(async () => {
  await h?.close();
});

/** A restarted engine: every object new, over the same data dir. */
async function restartedEngine(): Promise<{ containers: Containers; idRanges: IdRangeAllocator }> {
  const paths = enginePaths(h.dataDir);
  const idRanges = new IdRangeAllocator({ dir: h.idRanges.dir, baseId: h.idRanges.baseId, maxRanges: h.idRanges.maxRanges });
  const containers = new Containers({
    dataDir: h.dataDir,
    store: await ImageStore.open(paths.store),
    runtime: sandboxNative(LAUNCHER, paths.launcherState),
    idRanges,
    cgroupParent: h.cgroupParent,
    session: 'learner',
    log: pino({ level: 'silent' }),
  });
  return { containers, idRanges };
}

async function monitorPid(shortId: string): Promise<number> {
  const state = JSON.parse(await readFile(join(enginePaths(h.dataDir).launcherState, shortId, 'state.json'), 'utf8')) as { monitorPid: number };
  return state.monitorPid;
}

it('a running container survives its starter; its id range is held by its launcher monitor', async () => {
  const id = await h.runDetached({ image: 'busybox', cmd: ['sleep', '1000'] });
  const { containers, idRanges } = await restartedEngine();
  const info = await containers.inspect(id);
  expect(info.status).toBe('running');
  const leases = idRanges.leases();
  expect(leases).toHaveLength(1);
  expect(leases[0]).toMatchObject({ containerId: info.shortId, ownerPid: await monitorPid(info.shortId), alive: true });
  await containers.stop(id, { graceMs: 0 });
  expect(idRanges.leases()).toEqual([]);
});

it('an exit that happened while no engine looked is recorded by the next engine process', async () => {
  const id = await h.runDetached({ image: 'busybox', cmd: ['sh', '-c', 'sleep 0.3; exit 3'] });
  const short = id.slice(0, 12);
  // Nobody reconciles meanwhile: the launcher records the exit and its monitor ends.
  await eventually(async () => (await h.runtime.state(short))?.status === 'stopped');
  // The monitor ends right after; its range is then free for the taking but still marked.
  await eventually(() => h.idRanges.leases().some((l) => l.containerId === short && !l.alive));

  const { containers, idRanges } = await restartedEngine();
  const [listed] = await containers.list({ all: true });
  expect(listed).toMatchObject({ id, status: 'exited', exitCode: 3, oomKilled: false, timedOut: false });
  // The launcher's state is deleted and the range given back, once.
  expect(await h.runtime.state(short)).toBeNull();
  expect(idRanges.leases()).toEqual([]);
  expect(await containers.wait(id)).toMatchObject({ exitCode: 3 });
});

it('a container whose launcher was killed is recorded as killed, and its cgroup is removed', async () => {
  const c = h.containers();
  const { container } = await c.run({ image: 'busybox', cmd: ['sleep', '1000'] });
  process.kill(await monitorPid(container.shortId), 'SIGKILL');
  const { containers } = await restartedEngine();
  await eventually(async () => (await containers.inspect(container.id)).status === 'exited');
  const info = await containers.inspect(container.id);
  expect(info).toMatchObject({ exitCode: 137, signal: 'KILL' });
  expect(info.error).toMatch(/launcher ended unexpectedly/);
  // afterEach checks there is no cgroup, launcher state, process or id range left.
});

it('a --rm container that exited unobserved is removed by the next look', async () => {
  const id = await h.runDetached({ image: 'busybox', cmd: ['true'], autoRemove: true });
  await eventually(async () => (await h.runtime.state(id.slice(0, 12)))?.status === 'stopped');
  const { containers } = await restartedEngine();
  expect(await containers.list({ all: true })).toEqual([]);
  expect(await h.leftovers()).toEqual([]);
});
