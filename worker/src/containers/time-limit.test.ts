// A container's wall-clock limit: the host operator's setting (LAYERCAKE_CONTAINER_TIME_LIMIT_MS,
// read by config.ts and handed to every Containers through the engine), enforced by the real
// launcher, which kills the whole container and reports timedOut. A learner cannot set it.
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../../protocol/jobs.js';
import { ConfigError, loadConfig } from '../config.js';
import { containerLimits } from '../limits.js';
import { openEngineCore } from '../queue/engine.js';
import { createHarness, LAUNCHER, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('time-limit');
});
afterEach(async () => {
  await h.clean();
});
afterAll(async () => {
  await h?.close();
});

describe('the operator sets it', () => {
  it('LAYERCAKE_CONTAINER_TIME_LIMIT_MS: limits.ts by default, a number of ms, 0 for none; anything else is named', () => {
    expect(loadConfig({}).containerTimeLimitMs).toBe(containerLimits.timeLimitMs);
    expect(loadConfig({ LAYERCAKE_CONTAINER_TIME_LIMIT_MS: '1500' }).containerTimeLimitMs).toBe(1500);
    expect(loadConfig({ LAYERCAKE_CONTAINER_TIME_LIMIT_MS: '0' }).containerTimeLimitMs).toBeNull();
    for (const bad of ['-1', '1.5', '30m']) {
      expect(() => loadConfig({ LAYERCAKE_CONTAINER_TIME_LIMIT_MS: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ LAYERCAKE_CONTAINER_TIME_LIMIT_MS: bad })).toThrow(/LAYERCAKE_CONTAINER_TIME_LIMIT_MS/);
    }
  });

  it('a learner cannot: the run job has no such field, and a container request naming it is refused', async () => {
    const job = runJob.parse({ sessionId: 's1', runId: 'r1', image: 'busybox', timeLimitMs: 10 ** 9 });
    expect(job).not.toHaveProperty('timeLimitMs');
    await expect(h.containers().create({ image: 'busybox', limits: { timeLimitMs: 10 ** 9 } as never })).rejects.toThrow(/timeLimitMs/);
  });
});

describe('the launcher enforces it', () => {
  const log = pino({ level: 'silent' });

  it('a container past its host’s limit is killed (137) and reported timed out; with no limit (the control) the same one runs on', async () => {
    const limited = await openEngineCore({ dataDir: h.dataDir, launcher: LAUNCHER, log, containerTimeLimitMs: 1500 });
    const unlimited = await openEngineCore({ dataDir: h.dataDir, launcher: LAUNCHER, log, containerTimeLimitMs: null });
    expect(limited.defaults).toEqual({ timeLimitMs: 1500 });
    // Every Containers is made as `new Containers({ ...engine, session })`: the harness's parts, the engine's defaults.
    const c = h.containers({ defaults: limited.defaults });
    const free = h.containers({ defaults: unlimited.defaults });

    const started = Date.now();
    const { container } = await c.run({ image: 'busybox', cmd: ['sleep', '1000'] });
    const control = (await free.run({ image: 'busybox', cmd: ['sleep', '1000'] })).container;
    expect(container.limits.timeLimitMs).toBe(1500);
    expect(control.limits.timeLimitMs).toBeUndefined();

    const exit = await c.wait(container.id, { signal: AbortSignal.timeout(10_000) });
    const tookMs = Date.now() - started;
    expect(exit).toMatchObject({ exitCode: 137, timedOut: true, oomKilled: false });
    expect(tookMs).toBeGreaterThanOrEqual(1400);
    expect(tookMs).toBeLessThan(10_000);
    expect((await c.inspect(container.id)).timedOut).toBe(true);
    // The control, started after it, outlived it.
    expect((await free.inspect(control.id)).status).toBe('running');
  });

  it('every start gets the whole limit again', async () => {
    const limited = await openEngineCore({ dataDir: h.dataDir, launcher: LAUNCHER, log, containerTimeLimitMs: 1000 });
    const c = h.containers({ defaults: limited.defaults });
    const { container } = await c.run({ image: 'busybox', cmd: ['sleep', '1000'] });
    expect((await c.wait(container.id)).timedOut).toBe(true);
    const again = Date.now();
    await c.start(container.id);
    expect((await c.inspect(container.id)).status).toBe('running');
    expect(await c.wait(container.id)).toMatchObject({ exitCode: 137, timedOut: true });
    expect(Date.now() - again).toBeGreaterThanOrEqual(900);
  });

  it('without an operator setting a container has limits.ts’s limit', async () => {
    const core = await openEngineCore({ dataDir: h.dataDir, launcher: LAUNCHER, log });
    const container = await h.containers({ ...(core.defaults ? { defaults: core.defaults } : {}) }).create({ image: 'busybox' });
    expect(container.limits.timeLimitMs).toBe(containerLimits.timeLimitMs);
  });
});
