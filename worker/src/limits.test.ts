// One source of limits: what a job may ask for (protocol/jobs.ts) is what the engine accepts
// (containers/container-limits.ts), both from protocol/limits.ts. Pure checks: no sandbox needed.
import { afterAll, describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { isLearnerError, renderMessage } from '../../protocol/errors.js';
import { containerOpJob, limitErrorOf, runJob } from '../../protocol/jobs.js';
import { JobDispatcher } from '../../queue-client/dispatcher.js';
import { containerLimitBounds as protocolBounds } from '../../protocol/limits.js';
import { defaultContainerLimits } from './containers/index.js';
import { resolveLimits } from './containers/container-limits.js';
import { containerLimitBounds } from './limits.js';
import { testClient, testPrefix, testRedisUrl } from './queue/test-support/redis.js';

const redis = testClient();
afterAll(async () => {
  await redis.quit();
});

const job = { sessionId: 's1', runId: 'r1', image: 'busybox' };
const asked = ['memoryBytes', 'pidsMax', 'cpus'] as const;
/** Just past each bound: one unit for counts and bytes; for CPUs half the least, and a hundredth more than the most. */
const pastBounds = (name: (typeof asked)[number], min: number, max: number) => (name === 'cpus' ? [min / 2, max + 0.01] : [min - 1, max + 1]);

describe('container limits have one source', () => {
  it('the engine checks the bounds the protocol publishes', () => {
    expect(containerLimitBounds).toBe(protocolBounds);
    expect(Object.isFrozen(protocolBounds) && Object.values(protocolBounds).every(Object.isFrozen)).toBe(true);
  });

  for (const name of asked) {
    it(`${name}: a run job beyond its bounds is refused by the schema, and by the engine with the same numbers`, () => {
      const { min, max } = protocolBounds[name];
      for (const ok of [min, max]) {
        expect(runJob.safeParse({ ...job, [name]: ok }).success).toBe(true);
        expect(() => resolveLimits(defaultContainerLimits, { [name]: ok })).not.toThrow();
      }
      for (const beyond of pastBounds(name, min, max)) {
        const parsed = runJob.safeParse({ ...job, [name]: beyond });
        expect(parsed.success).toBe(false);
        expect(parsed.error?.issues[0]?.path).toEqual([name]);
        expect(() => resolveLimits(defaultContainerLimits, { [name]: beyond })).toThrow(
          expect.objectContaining({ key: 'container.limitOutOfRange' }),
        );
      }
    });
  }

  it('stop’s grace period is bounded the same way', () => {
    const stop = { sessionId: 's1', runId: 'r1', op: 'stop', container: 'c' };
    const { max } = protocolBounds.stopGraceMs;
    expect(containerOpJob.safeParse({ ...stop, graceMs: max }).success).toBe(true);
    expect(containerOpJob.safeParse({ ...stop, graceMs: max + 1 }).success).toBe(false);
    expect(() => resolveLimits(defaultContainerLimits, { stopGraceMs: max + 1 })).toThrow(expect.objectContaining({ key: 'container.limitOutOfRange' }));
  });

  it('the gateway’s enqueue refuses a limit beyond its bounds with the engine’s own learner error, before anything is queued', async () => {
    const dispatcher = new JobDispatcher(redis, testRedisUrl(), testPrefix('limits'));
    const engineSays = (() => {
      try {
        resolveLimits(defaultContainerLimits, { cpus: 3 });
      } catch (err) {
        return err;
      }
    })();
    expect(isLearnerError(engineSays)).toBe(true);
    const refused = await dispatcher.enqueue('run', { ...job, cpus: 3 }).catch((err: unknown) => err);
    expect(refused).toEqual(engineSays);
    expect(limitErrorOf({ ...job, cpus: 3 })?.toPayload()).toEqual({ kind: 'learner', key: 'container.limitOutOfRange', facts: { limit: '--cpus', min: '0.01', max: '2', value: '3' } });
    expect(renderMessage('container.limitOutOfRange', limitErrorOf({ memoryBytes: 2 * 1024 ** 3 })!.facts, 'ko')).toBe('--memory은(는) 6 MiB에서 1 GiB 사이여야 해요. 요청한 값: 2 GiB.');
    // Anything else wrong with a job is the gateway's bug: a ZodError, not a message for the learner.
    expect(await dispatcher.enqueue('run', { ...job, image: '' }).catch((err: unknown) => err)).toBeInstanceOf(ZodError);
    expect(limitErrorOf({ ...job, image: '' })).toBeNull();
    await dispatcher.close();
  });

  it('the engine’s defaults are inside the bounds a learner may ask for', () => {
    const d = defaultContainerLimits;
    const within = (name: keyof typeof protocolBounds, v: number) => v >= protocolBounds[name].min && v <= protocolBounds[name].max;
    expect(within('memoryBytes', d.memoryBytes) && within('pidsMax', d.pidsMax) && within('cpus', d.cpuQuotaMicros / d.cpuPeriodMicros)).toBe(true);
    expect(within('idleTimeoutMs', d.idleTimeoutMs) && within('writableLayerBytes', d.writableLayerBytes) && within('stopGraceMs', d.stopGraceMs)).toBe(true);
  });
});
